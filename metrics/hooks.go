package metrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// CacheStats reports a cache's hits and misses since it started; a cache
// needs no dependency on Prometheus to be measured (e.g. Store.CacheStats).
type CacheStats func() (hits, misses uint64)

// Cache exposes a cache as orgd_cache_hits_total and orgd_cache_misses_total
// with the label cache=name; name is a fixed word such as "organizations",
// and registering it twice replaces the first.
func (m *Metrics) Cache(name string, stats CacheStats) {
	m.caches.mu.Lock()
	defer m.caches.mu.Unlock()
	m.caches.stats[name] = stats
}

type cacheCollector struct {
	hits, misses *prometheus.Desc

	mu    sync.Mutex
	stats map[string]CacheStats
}

func newCacheCollector() *cacheCollector {
	return &cacheCollector{
		hits:   prometheus.NewDesc("orgd_cache_hits_total", "Lookups answered by an in-process cache.", []string{"cache"}, nil),
		misses: prometheus.NewDesc("orgd_cache_misses_total", "Lookups an in-process cache had to pass on.", []string{"cache"}, nil),
		stats:  map[string]CacheStats{},
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.stats {
		h, m := s()
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(h), name)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(m), name)
	}
}

// BcryptQueue registers orgd_bcrypt_queue_depth, read from depth at each
// scrape: the number of password hashes or checks waiting for a bcrypt worker.
// Call it once, from whatever bounds bcrypt's concurrency.
func (m *Metrics) BcryptQueue(depth func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orgd_bcrypt_queue_depth", Help: "Password hashes and checks waiting for a bcrypt worker.",
	}, func() float64 { return float64(depth()) }))
}

// AuditDeferred registers orgd_audit_events_deferred, read from waiting at
// each scrape: audit events the database did not take in time, waiting to be
// written (e.g. Store.AuditDeferred).
func (m *Metrics) AuditDeferred(waiting func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orgd_audit_events_deferred", Help: "Audit events waiting to be written, because the database did not take them in time.",
	}, func() float64 { return float64(waiting()) }))
}

// Passwords hashes and checks passwords (api.Passwords).
type Passwords interface {
	Hash(ctx context.Context, password string) (string, error)
	Check(ctx context.Context, hash, password string) (bool, error)
}

// Passwords returns p measured: orgd_bcrypt_in_flight and
// orgd_bcrypt_duration_seconds{op="hash"|"check"}.
func (m *Metrics) Passwords(p Passwords) Passwords { return &passwords{p: p, m: m} }

type passwords struct {
	p Passwords
	m *Metrics
}

func (w *passwords) Hash(ctx context.Context, password string) (string, error) {
	defer w.m.bcrypt("hash")()
	return w.p.Hash(ctx, password)
}

func (w *passwords) Check(ctx context.Context, hash, password string) (bool, error) {
	defer w.m.bcrypt("check")()
	return w.p.Check(ctx, hash, password)
}

func (m *Metrics) bcrypt(op string) (done func()) {
	start := m.now()
	m.bcryptInFlight.Inc()
	return func() {
		m.bcryptInFlight.Dec()
		m.bcryptLatency.WithLabelValues(op).Observe(m.now().Sub(start).Seconds())
	}
}
