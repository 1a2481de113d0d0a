package mongodb

import (
	"context"
	"sync"
	"time"
)

// background runs the work a Store does after answering its caller: the
// moves started through the API, and the writing of deferred audit events.
type background struct {
	mu     sync.Mutex // orders run and stop, so that no goroutine starts once Wait may have begun
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// run runs fn in a goroutine that stop waits for; false, without running
// it, once stop has begun.
func (b *background) run(fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// retryFirst and retryMax pace the background writers' retries: the first
// after retryFirst, each later one after twice as long, up to retryMax.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 30 * time.Second
)

// pause waits *wait, then doubles it up to retryMax; false, at once, when b
// stops meanwhile.
func (b *background) pause(wait *time.Duration) bool {
	select {
	case <-b.ctx.Done():
		return false
	case <-time.After(*wait):
	}
	*wait = min(2**wait, retryMax)
	return true
}

// stop cancels b's context and waits for the goroutines it runs.
func (b *background) stop() {
	b.mu.Lock()
	b.cancel()
	b.mu.Unlock()
	b.wg.Wait()
}

// Close stops the moves this Store runs in the background where they are (a
// move whose writes were paused resumes them first) and waits for them; the
// reconciler of this or another instance finishes them later. Audit events
// still waiting to be written get one last try (see auditOutbox).
func (s *Store) Close() {
	s.bg.stop()
}
