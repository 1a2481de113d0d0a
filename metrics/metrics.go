// Package metrics defines orgd's Prometheus metrics. Everything is registered
// on a registry the caller creates (never the global default one). Labels
// carry routes, methods, status classes, database commands and lifecycle
// states: never organization names, emails or ids, whose number is unbounded.
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Build describes the running binary; it becomes orgd_build_info.
type Build struct {
	Version, Commit, GoVersion string
}

// Metrics holds orgd's own collectors.
type Metrics struct {
	reg prometheus.Registerer

	inFlight prometheus.Gauge
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	dbLatency *prometheus.HistogramVec
	dbErrors  *prometheus.CounterVec

	reconcileRuns *prometheus.CounterVec
	repairs       prometheus.Counter

	bcryptInFlight prometheus.Gauge
	bcryptLatency  *prometheus.HistogramVec

	caches *cacheCollector
	now    func() time.Time
}

// New registers orgd's metrics, with the Go runtime and process collectors,
// on reg; now is the clock that times password hashing.
func New(reg prometheus.Registerer, b Build, now func() time.Time) *Metrics {
	m := &Metrics{
		reg: reg,
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orgd_http_requests_in_flight", Help: "HTTP requests being served now.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgd_http_requests_total", Help: "HTTP requests served, by method, route pattern and status class.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orgd_http_request_duration_seconds", Help: "Time to serve an HTTP request, by method, route pattern and status class.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "code"}),
		dbLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orgd_db_operation_duration_seconds", Help: "Time of each database command, by command name.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgd_db_operation_errors_total", Help: "Database commands that failed (network errors, timeouts, server errors), by command name.",
		}, []string{"operation"}),
		reconcileRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgd_reconciler_runs_total", Help: "Reconciler rounds, by kind (resume: the journal only; sweep: also orphans) and result.",
		}, []string{"kind", "result"}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orgd_reconciler_repairs_total", Help: "Interrupted operations finished or undone, and orphans removed, by the reconciler.",
		}),
		bcryptInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "orgd_bcrypt_in_flight", Help: "Password hashes and checks running now.",
		}),
		bcryptLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orgd_bcrypt_duration_seconds", Help: "Time of each password hash or check, waiting included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op"}),
		caches: newCacheCollector(),
		now:    now,
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "orgd_build_info", Help: "Always 1; its labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion},
	})
	info.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info, m.inFlight, m.requests, m.latency, m.dbLatency, m.dbErrors,
		m.reconcileRuns, m.repairs, m.bcryptInFlight, m.bcryptLatency, m.caches,
	)
	return m
}

// Handler serves the metrics gathered by g in the Prometheus exposition format.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// RequestStarted counts a request in flight until RequestDone.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone records a finished request. route is the pattern it matched
// (e.g. /org/get), never the raw path.
func (m *Metrics) RequestDone(method, route string, status int, d time.Duration) {
	m.inFlight.Dec()
	method, code := normMethod(method), strconv.Itoa(status/100)+"xx"
	m.requests.WithLabelValues(method, route, code).Inc()
	m.latency.WithLabelValues(method, route, code).Observe(d.Seconds())
}

// normMethod bounds the method label: a client may send any token.
func normMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// Reconciled records one reconciler round (mongodb.Config.Reconciled).
func (m *Metrics) Reconciled(sweep bool, repaired int, err error) {
	kind, result := "resume", "ok"
	if sweep {
		kind = "sweep"
	}
	if err != nil {
		result = "error"
	}
	m.reconcileRuns.WithLabelValues(kind, result).Inc()
	m.repairs.Add(float64(repaired))
}
