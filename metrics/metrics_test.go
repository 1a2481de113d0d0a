package metrics_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd/metrics"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gather returns every sample as name{label=value,...} -> value.
func gather(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + labels(m)
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			default:
				out[key] = 0
			}
		}
	}
	return out
}

func labels(m *dto.Metric) string {
	s := ""
	for _, l := range m.GetLabel() {
		if s != "" {
			s += ","
		}
		s += l.GetName() + "=" + l.GetValue()
	}
	if s == "" {
		return ""
	}
	return "{" + s + "}"
}

type fakePasswords struct{}

func (fakePasswords) Hash(context.Context, string) (string, error)        { return "h", nil }
func (fakePasswords) Check(context.Context, string, string) (bool, error) { return true, nil }

// TestMetrics drives every hook and checks the samples and their labels.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := &clock{now: time.Unix(1e9, 0)}
	m := metrics.New(reg, metrics.Build{Version: "1.2.3", Commit: "abc", GoVersion: "go1.x"}, clk.Now)

	m.RequestStarted()
	m.RequestDone("GET", "/org/get", 200, 10*time.Millisecond)
	m.RequestStarted()
	m.RequestDone("GET", "/org/get", 404, time.Millisecond)
	m.RequestStarted()
	m.RequestDone("BREW", "unmatched", 405, time.Millisecond)
	m.RequestStarted() // still running

	m.Reconciled(true, 2, nil)
	m.Reconciled(false, 0, errors.New("down"))
	m.Cache("organizations", func() (uint64, uint64) { return 3, 4 })
	m.BcryptQueue(func() int { return 5 })
	m.AuditDeferred(func() int { return 2 })
	pw := m.Passwords(fakePasswords{})
	_, _ = pw.Hash(context.Background(), "x")
	_, _ = pw.Check(context.Background(), "h", "x")

	counts, fail := 0, false
	m.CountOrganizations(func(context.Context) (map[string]int, error) {
		counts++
		if fail {
			return nil, errors.New("database down")
		}
		return map[string]int{"active": 7, "creating": 1}, nil
	})

	mon := m.CommandMonitor()
	mon.Succeeded(context.Background(), ev("find"))
	mon.Failed(context.Background(), evf("insert"))
	// A collection created again by a step done twice: expected, no error.
	exists := evf("create")
	exists.Failure = driver.Error{Code: 48, Message: "Collection t.org_acme already exists."}
	mon.Failed(context.Background(), exists)

	got := gather(t, reg)
	want := map[string]float64{
		"orgd_build_info{commit=abc,goversion=go1.x,version=1.2.3}":                    1,
		"orgd_http_requests_in_flight":                                                 1,
		"orgd_http_requests_total{code=2xx,method=GET,route=/org/get}":                 1,
		"orgd_http_requests_total{code=4xx,method=GET,route=/org/get}":                 1,
		"orgd_http_requests_total{code=4xx,method=OTHER,route=unmatched}":              1,
		"orgd_http_request_duration_seconds{code=2xx,method=GET,route=/org/get}_count": 1,
		"orgd_reconciler_runs_total{kind=sweep,result=ok}":                             1,
		"orgd_reconciler_runs_total{kind=resume,result=error}":                         1,
		"orgd_reconciler_repairs_total":                                                2,
		"orgd_cache_hits_total{cache=organizations}":                                   3,
		"orgd_cache_misses_total{cache=organizations}":                                 4,
		"orgd_bcrypt_queue_depth":                                                      5,
		"orgd_bcrypt_in_flight":                                                        0,
		"orgd_audit_events_deferred":                                                   2,
		"orgd_bcrypt_duration_seconds{op=hash}_count":                                  1,
		"orgd_bcrypt_duration_seconds{op=check}_count":                                 1,
		"orgd_organizations{status=active}":                                            7,
		"orgd_organizations{status=creating}":                                          1,
		"orgd_db_operation_duration_seconds{operation=find}_count":                     1,
		"orgd_db_operation_duration_seconds{operation=insert}_count":                   1,
		"orgd_db_operation_duration_seconds{operation=create}_count":                   1,
		"orgd_db_operation_errors_total{operation=insert}":                             1,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if g, ok := got["orgd_db_operation_errors_total{operation=create}"]; ok {
		t.Errorf("a collection that exists counted as %v database errors", g)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}

	// The count is reused for 30 s, and the last one is kept when a count fails.
	gather(t, reg)
	if counts != 1 {
		t.Errorf("counted %d times within 30 s, want once", counts)
	}
	clk.Advance(31 * time.Second)
	fail = true
	got = gather(t, reg)
	if counts != 2 || got["orgd_organizations{status=active}"] != 7 {
		t.Errorf("after a failed count: %d counts, active=%v; want 2 counts and the last value 7", counts, got["orgd_organizations{status=active}"])
	}
}

// TestOrganizationCountIsPaced checks that a slow count is reused for 100
// times as long as it took, so that counting costs about 1% of the time, and
// that a failed one is tried again after 30 s.
func TestOrganizationCountIsPaced(t *testing.T) {
	reg := prometheus.NewRegistry()
	clk := &clock{now: time.Unix(1e9, 0)}
	m := metrics.New(reg, metrics.Build{}, clk.Now)
	counts, fail := 0, false
	m.CountOrganizations(func(context.Context) (map[string]int, error) {
		counts++
		clk.Advance(2 * time.Second) // a count of many organizations
		if fail {
			return nil, errors.New("database down")
		}
		return map[string]int{"active": counts}, nil
	})
	for _, tc := range []struct {
		after  time.Duration // since the last scrape
		fail   bool
		counts int     // counts made by then
		active float64 // the count reported
	}{
		{0, false, 1, 1},
		{31 * time.Second, false, 1, 1},
		{150 * time.Second, false, 1, 1},
		{20 * time.Second, false, 2, 2}, // 203 s after the first count began
		{190 * time.Second, false, 2, 2},
		{20 * time.Second, true, 3, 2},
		{31 * time.Second, true, 4, 2},
		{31 * time.Second, false, 5, 5},
	} {
		clk.Advance(tc.after)
		fail = tc.fail
		got := gather(t, reg)
		if counts != tc.counts || got["orgd_organizations{status=active}"] != tc.active {
			t.Fatalf("%v later: %d counts, active=%v; want %d and %v", tc.after, counts, got["orgd_organizations{status=active}"], tc.counts, tc.active)
		}
	}
}

func ev(name string) *event.CommandSucceededEvent {
	return &event.CommandSucceededEvent{CommandFinishedEvent: event.CommandFinishedEvent{CommandName: name, Duration: time.Millisecond}}
}

func evf(name string) *event.CommandFailedEvent {
	return &event.CommandFailedEvent{CommandFinishedEvent: event.CommandFinishedEvent{CommandName: name, Duration: time.Millisecond}}
}
