package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy is returned when as many password hashes are waiting as the gate allows.
var ErrBusy = errors.New("too many password hashes queued")

// ShareWindow is how recently a request that needs no hash must have been
// served for the gate to keep a CPU free of hashes.
const ShareWindow = 100 * time.Millisecond

// Gate bounds bcrypt work: at most running hashes at once and at most queued
// more waiting for a turn; beyond that Enter fails at once with ErrBusy, so a
// login flood gets quick refusals instead of unbounded latency.
//
// While other requests are being served (one ended within ShareWindow), one
// hash fewer runs, so that a CPU has none. Hashes run at the lowest
// scheduling priority, but the kernel does not always hand the CPU over at
// once: a request thread woken on a CPU where a hash runs now and then waits
// for the scheduler's next tick (3 to 4 ms at 250 Hz, seen with perf sched).
// With every CPU hashing, those waits put the p99 of GET /org/get during a
// login flood at 1.5 to 3.8 times its idle p99; with a CPU kept free, at 0.9
// to 1.3 times. A login flood alone still uses every CPU.
type Gate struct {
	max      int // hashes at once while no other request is served
	maxQueue int
	now      func() time.Time
	served   atomic.Int64 // when the last request needing no hash ended, in now's UnixNano

	mu      sync.Mutex
	running int
	queue   []chan struct{} // closed when its turn comes; first come, first served
}

// NewGate returns a Gate letting running hashes run at once (one fewer
// while other requests are served) and queued wait; now is the clock (nil:
// time.Now).
func NewGate(running, queued int, now func() time.Time) *Gate {
	if now == nil {
		now = time.Now
	}
	return &Gate{max: max(running, 1), maxQueue: max(queued, 0), now: now}
}

// Served tells the gate that a request needing no hash ended at t.
func (g *Gate) Served(t time.Time) {
	// Most calls come within a millisecond of the last one: reading the
	// shared time is cheaper than writing it from every request.
	if ns := t.UnixNano(); ns-g.served.Load() > int64(time.Millisecond) {
		g.served.Store(ns)
	}
}

// limit is how many hashes may run now.
func (g *Gate) limit() int {
	if g.max > 1 && g.now().UnixNano()-g.served.Load() < int64(ShareWindow) {
		return g.max - 1
	}
	return g.max
}

// Enter waits for a turn and returns the function that ends it; ErrBusy when
// the queue is full, ctx's error when ctx ends first.
func (g *Gate) Enter(ctx context.Context) (release func(), err error) {
	g.mu.Lock()
	if len(g.queue) == 0 && g.running < g.limit() {
		g.running++
		g.mu.Unlock()
		return g.release, nil
	}
	if len(g.queue) >= g.maxQueue {
		g.mu.Unlock()
		return nil, ErrBusy
	}
	turn := make(chan struct{})
	g.queue = append(g.queue, turn)
	g.mu.Unlock()
	select {
	case <-turn:
		return g.release, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, t := range g.queue {
		if t == turn {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			g.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	g.mu.Unlock()
	g.release() // the turn came as ctx ended: pass it on
	return nil, ctx.Err()
}

// release ends a turn and starts the next ones the limit allows. The limit
// is looked at again only here and in Enter: a hash that runs cannot be
// paused, and the next one ends within a hash's time.
func (g *Gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	for n := g.limit(); len(g.queue) > 0 && g.running < n; {
		close(g.queue[0])
		g.queue = g.queue[1:]
		g.running++
	}
}

// Waiting is the number of callers queued for a turn.
func (g *Gate) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}
