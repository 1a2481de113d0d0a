package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	// countEvery is how long a count of organizations by status is reused
	// at least: a scrape every few seconds need not mean a count every few
	// seconds.
	countEvery = 30 * time.Second
	// countShare bounds the time spent counting to about 1/countShare of the
	// wall clock, should a count ever be slow (a database far away or
	// overloaded).
	countShare = 100
	// countTimeout bounds one count, so that a scrape during a database
	// outage returns (with the last count) instead of hanging.
	countTimeout = 5 * time.Second
)

// CountOrganizations registers orgd_organizations{status}, counted by count
// at scrape time, at most every 30 s or every 100 times as long as the last
// count took, whichever is longer. Between counts, and when a count fails,
// the last successful count is reported.
func (m *Metrics) CountOrganizations(count func(context.Context) (map[string]int, error)) {
	m.reg.MustRegister(&orgCollector{
		desc:  prometheus.NewDesc("orgd_organizations", "Organizations by lifecycle status (counted at most every 30 s, less often when a count is slow).", []string{"status"}, nil),
		count: count,
		now:   m.now,
	})
}

type orgCollector struct {
	desc  *prometheus.Desc
	count func(context.Context) (map[string]int, error)
	now   func() time.Time

	mu    sync.Mutex    // one count at a time; guards what follows
	tried time.Time     // last attempt, successful or not
	reuse time.Duration // how long after tried the next count may be made
	last  map[string]int
}

func (c *orgCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *orgCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.tried.IsZero() || now.Sub(c.tried) >= c.reuse {
		c.tried = now
		ctx, cancel := context.WithTimeout(context.Background(), countTimeout)
		c.reuse = countEvery // after a failure, which may have waited for countTimeout
		if n, err := c.count(ctx); err == nil {
			c.last = n
			c.reuse = max(countEvery, countShare*c.now().Sub(now))
		}
		cancel()
	}
	for status, n := range c.last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}
