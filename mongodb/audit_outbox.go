package mongodb

import (
	"context"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// auditOutboxMax bounds the events waiting in the outbox: more than an
// instance records in minutes of heavy use, and a few MiB at most.
const auditOutboxMax = 10_000

// auditOutbox holds audit events whose write did not go through in time
// because the database was unavailable or busy, as on the embedded database
// during a storm of renames, where every insert waits for the renames'
// lock. A background writer writes them again, oldest first, so that the
// request does not wait out the storm or the outage and the log does not
// lose the event. Only a crash before the write loses it.
type auditOutbox struct {
	mu      sync.Mutex
	docs    []auditDoc
	writing bool // a writer is running
}

// deferEvent queues d for the background writer, starting one if none runs;
// false when the outbox is full or the Store is closing.
func (s *Store) deferEvent(d auditDoc) bool {
	o := &s.outbox
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.docs) >= auditOutboxMax {
		return false
	}
	if !o.writing {
		if !s.bg.run(s.writeDeferred) {
			return false
		}
		o.writing = true
	}
	o.docs = append(o.docs, d)
	return true
}

// AuditDeferred is the number of audit events waiting to be written.
func (s *Store) AuditDeferred() int {
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	return len(s.outbox.docs)
}

// next returns the oldest waiting event; when there is none, the writer
// that asked stops (false), and the next deferred event starts another.
func (o *auditOutbox) next() (auditDoc, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.docs) == 0 {
		o.writing = false
		return auditDoc{}, false
	}
	return o.docs[0], true
}

// done takes the oldest event out of the outbox.
func (o *auditOutbox) done() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.docs[0] = auditDoc{}
	o.docs = o.docs[1:]
}

// writeDeferred writes the outbox's events until it is empty, waiting longer
// after each failure (up to 30 s). When the Store closes, it tries once
// more, briefly, and logs each event it could not write.
func (s *Store) writeDeferred() {
	wait := retryFirst
	for {
		d, ok := s.outbox.next()
		if !ok {
			return
		}
		err := s.writeEvent(s.bg.ctx, d)
		switch {
		case err == nil:
			s.outbox.done()
			wait = retryFirst
			continue
		case s.bg.ctx.Err() == nil && !unavailable(err):
			s.eventLost(d, err)
			s.outbox.done()
			continue
		}
		if !s.bg.pause(&wait) {
			s.flushOutbox()
			return
		}
	}
}

// writeEvent inserts d. An earlier attempt may have been written after its
// caller stopped waiting for it: its event id is d's own, so a duplicate
// key means that d is in the log.
func (s *Store) writeEvent(ctx context.Context, d auditDoc) error {
	if err := s.insert(ctx, s.audit(), d); err != nil && !mongo.IsDuplicateKeyError(err) {
		return err
	}
	return nil
}

// flushOutbox tries each waiting event once, for a few seconds in all, as
// the Store closes, and logs those it could not write.
func (s *Store) flushOutbox() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o := &s.outbox
	o.mu.Lock()
	docs := o.docs
	o.docs, o.writing = nil, false
	o.mu.Unlock()
	for _, d := range docs {
		if err := s.writeEvent(ctx, d); err != nil {
			s.eventLost(d, err)
		}
	}
}

// eventLost logs a deferred event that will not be written.
func (s *Store) eventLost(d auditDoc, err error) {
	s.log.Error("audit event not recorded", "event", d.Type, "org_id", d.OrgID, "at", d.At, "err", err)
}
