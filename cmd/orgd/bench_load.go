package main

import (
	"cmp"
	"context"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// driveRate starts fn rate times a second for d, whatever the answers take
// (an open-loop flood), and summarizes the successful ones.
func driveRate(ctx context.Context, rate float64, d time.Duration, fn func(*mrand.Rand) error) benchResult {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	deadline := time.After(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := uint64(0); ; i++ {
		select {
		case <-ctx.Done():
		case <-deadline:
		case <-tick.C:
			wg.Go(func() {
				t0 := time.Now()
				err := fn(mrand.New(mrand.NewPCG(i, uint64(start.UnixNano()))))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs++
					return
				}
				lat = append(lat, time.Since(t0))
			})
			continue
		}
		break
	}
	wg.Wait()
	r := summarize("flood", 0, lat, errs, time.Since(start))
	return r
}

// drive runs fn from conc workers for d and summarizes latencies.
func drive(ctx context.Context, name string, conc int, d time.Duration, fn func(*mrand.Rand) error) benchResult {
	return runFor(ctx, conc, d, fn).summarize(name, conc)
}

// The names -only matches to select the measurements that are not scenarios.
const (
	floodName       = "login flood"
	renameTimesName = "rename times"
	soakName        = "soak"
)

// wants reports whether the measurement called name is to run: all of them
// without -only, else those whose names contain one of its words.
func (bc benchConfig) wants(name string) bool {
	return len(bc.only) == 0 || slices.ContainsFunc(bc.only, func(o string) bool { return strings.Contains(name, o) })
}

// flood measures GET /org/get p99 idle and during a login flood at the
// bcrypt bound, for d each. It runs first, on the server as it settled,
// before scenarios that rename organizations (whose new names are then
// first looked up) or leave work behind; and in turns, like the scenarios,
// so that anything else that slows the server now and then weighs on both
// sides alike.
func (e *benchEnv) flood(ctx context.Context, rep *benchReport, d time.Duration) {
	var idle, during loadSample
	logins, flooded := 0, time.Duration(0)
	n, turn := turns(d)
	runFor(ctx, 1, warmUp(turn), e.getOrg)
	for range n {
		idle.add(runFor(ctx, 1, turn, e.getOrg))
		var flood benchResult
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Go(func() { flood = driveRate(ctx, rep.BcryptPerSec, turn, e.login) })
		during.add(runFor(ctx, 1, turn, e.getOrg))
		wg.Wait()
		logins, flooded = logins+flood.Requests, flooded+time.Since(t0)
		rep.FloodErrors += flood.Errors
	}
	rep.FloodErrors += idle.errs + during.errs
	rep.IdleP99ms, rep.FloodP99ms = idle.summarize("get", 1).P99ms, during.summarize("get", 1).P99ms
	rep.FloodLoginRate = float64(logins) / flooded.Seconds()
}

// turns splits d into n turns of about a second.
func turns(d time.Duration) (n int, turn time.Duration) {
	n = max(1, int(d/time.Second))
	return n, d / time.Duration(n)
}

// warmUp is how long to run before measuring in turns of turn.
func warmUp(turn time.Duration) time.Duration { return min(turn/2, 500*time.Millisecond) }

// driveTurns drives a and b in turns of about a second, d in all each,
// after a short warm-up of both: a machine whose speed drifts during the
// run (a virtual machine's neighbours, clock frequency) then weighs on both
// alike, rather than on whichever ran second. It calls measuring once the
// warm-up is over.
func driveTurns(ctx context.Context, name string, conc int, d time.Duration, a, b func(*mrand.Rand) error, measuring func()) (benchResult, benchResult) {
	n, turn := turns(d)
	runFor(ctx, conc, warmUp(turn), a)
	runFor(ctx, conc, warmUp(turn), b)
	measuring()
	var sa, sb loadSample
	for range n {
		sa.add(runFor(ctx, conc, turn, a))
		sb.add(runFor(ctx, conc, turn, b))
	}
	return sa.summarize(name, conc), sb.summarize(name, conc)
}

// loadSample is what workers measured: each success's latency, the failures
// and the time they took.
type loadSample struct {
	lat      []time.Duration
	errs     int
	firstErr string // what the first failure said
	elapsed  time.Duration
}

func (s *loadSample) add(o loadSample) {
	s.lat, s.errs, s.elapsed = append(s.lat, o.lat...), s.errs+o.errs, s.elapsed+o.elapsed
	s.firstErr = cmp.Or(s.firstErr, o.firstErr)
}

func (s loadSample) summarize(name string, conc int) benchResult {
	r := summarize(name, conc, s.lat, s.errs, s.elapsed)
	r.FirstError = s.firstErr
	return r
}

// runFor runs fn from conc workers for d.
func runFor(ctx context.Context, conc int, d time.Duration, fn func(*mrand.Rand) error) loadSample {
	var mu sync.Mutex
	var s loadSample
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var mine []time.Duration
			bad, first := 0, ""
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := fn(rng); err != nil {
					if bad++; first == "" {
						first = err.Error()
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			s.add(loadSample{lat: mine, errs: bad, firstErr: first})
			mu.Unlock()
		})
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	return s
}

func summarize(name string, conc int, lat []time.Duration, errs int, elapsed time.Duration) benchResult {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		// Nearest rank: the smallest latency that p of the requests did not exceed.
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return float64(lat[min(max(i, 0), len(lat)-1)].Microseconds()) / 1000
	}
	return benchResult{Scenario: name, Concurrency: conc, Requests: len(lat), Errors: errs,
		Throughput: float64(len(lat)) / elapsed.Seconds(), P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99)}
}
