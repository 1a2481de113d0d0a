package auth

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrBusy is returned when as many password hashes are waiting as the gate allows.
var ErrBusy = errors.New("too many password hashes queued")

// Gate bounds bcrypt work: at most running hashes at once and at most queued
// more waiting for a turn; beyond that Enter fails at once with ErrBusy, so a
// login flood gets quick refusals instead of unbounded latency, and the
// remaining CPU keeps serving other requests.
type Gate struct {
	run     chan struct{}
	wait    chan struct{}
	waiting atomic.Int64
}

// NewGate returns a Gate letting running hashes run at once and queued wait.
func NewGate(running, queued int) *Gate {
	return &Gate{run: make(chan struct{}, max(running, 1)), wait: make(chan struct{}, max(queued, 0))}
}

// Enter waits for a turn and returns the function that ends it; ErrBusy when
// the queue is full, ctx's error when ctx ends first.
func (g *Gate) Enter(ctx context.Context) (release func(), err error) {
	select {
	case g.run <- struct{}{}: // a free slot: no queueing
		return func() { <-g.run }, nil
	default:
	}
	select {
	case g.wait <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	g.waiting.Add(1)
	defer func() { g.waiting.Add(-1); <-g.wait }()
	select {
	case g.run <- struct{}{}:
		return func() { <-g.run }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Waiting is the number of callers queued for a turn.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }
