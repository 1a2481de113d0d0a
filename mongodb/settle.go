package mongodb

import (
	"context"
	"errors"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// settle checks, after a write to o's collection, that no operation started on
// the organization meanwhile. If one did (a rename or a delete raced the
// write), it waits for the operation to end and then makes the write land
// where the organization is now: redo is called with the organization as it
// is now. It returns the organization as it is now.
func (s *Store) settle(ctx context.Context, o *orgd.Organization, redo func(*orgd.Organization) error) (*orgd.Organization, error) {
	end := time.Now().Add(settleWait) // real time: this sleeps; one bound for every round
	for {
		now, redone, err := s.settleOnce(ctx, o, redo, end)
		if !redone || err != nil && orgd.ErrorCode(err) != orgd.ENOTFOUND {
			return now, err
		}
		// The redo went where the data was when the organization's record
		// was read; it may have moved on since (a second rename), taking the
		// write along or not: settle the redo in turn. One that found nothing
		// there is made again where the data went, or, if it has not moved,
		// found a record deleted after this write. The redo is in: no bound
		// answers 409 here (past end, settleOnce waits no more, and answers
		// 409 only for an operation still running; the write's context,
		// writeLimit, bounds a rename after rename after rename).
		o = now
	}
}

// settleOnce is one round of settle, waiting for an operation to end until
// end at most; redone says whether it called redo.
func (s *Store) settleOnce(ctx context.Context, o *orgd.Organization, redo func(*orgd.Organization) error, end time.Time) (_ *orgd.Organization, redone bool, _ error) {
	// The fast path reads only the journal and the tombstones, both small:
	// if no operation runs on the organization and none ended within the
	// tombstone window (longer than o, refreshed from the cache when the
	// write began, can be stale), then o still says where its data is.
	if quiet, err := s.quiet(ctx, o.ID); err != nil {
		return nil, false, err
	} else if quiet {
		return o, false, nil
	}
	var d orgDoc
	ok, err := findByID(ctx, s.orgs(), o.ID, &d)
	if err != nil {
		return nil, false, err
	}
	// A rename changes where the data is without changing the version, so
	// the place is compared too: a write that landed in the old place after
	// the rename must be made again in the new one.
	if ok && d.Version == o.Version && d.Status == stActive && samePlace(d.domain(s.deps.home), o) {
		return o, false, nil
	}
	// The write may already be in: answering 409 now would have a client that
	// retries store it twice. So wait out what a move's pause can take
	// (the drain and a final comparison: seconds), looking less often as it goes.
	wait := 50 * time.Millisecond
	for ok && d.Status != stActive && time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, false, translate(ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
		if ok, err = findByID(ctx, s.orgs(), o.ID, &d); err != nil {
			return nil, false, err
		}
	}
	if !ok { // deleted meanwhile: whatever this write left behind goes too
		_, err := s.tenantCollection(o).DeleteMany(ctx, bson.D{{Key: fieldOrg, Value: o.ID}})
		if err != nil {
			return nil, false, translate(err)
		}
		return nil, false, orgd.Errorf(orgd.ENOTFOUND, "Organization %q was deleted.", o.Name)
	}
	if d.Status != stActive {
		// The write is in, somewhere: the operation may carry it along, or
		// drop it with the place it leaves. A plain 409 would tell the
		// client it was not made, and its retry could store it twice.
		return nil, false, orgd.Errorf(orgd.ECONFLICT, "Organization %q was still being %s after %v: this write may have been stored all the same; check before sending it again.",
			d.Name, busyWhat(&d), settleWait)
	}
	now := d.domain(s.deps.home)
	if samePlace(now, o) {
		return now, false, nil
	}
	return now, true, redo(now)
}

// detachWrite is the context of a write of tenant data: not the request's,
// since a write the database may have applied must still be settled when
// its client hangs up (else what a racing rename or delete left of it would
// stay where no organization looks), but bounded all the same (see
// detachFor).
func (s *Store) detachWrite(ctx context.Context) (context.Context, context.CancelFunc) {
	return detachFor(ctx, writeLimit)
}

// writeLimit bounds a write of tenant data, from its first operation to
// its last: settleWait, and a minute for the database's own operations.
const writeLimit = settleWait + time.Minute

// settleWait bounds how long a write waits for its organization's operation
// to end before answering 409. It stays well inside the HTTP server's
// ReadTimeout (30 s from the request's start), which cancels the request.
const settleWait = 20 * time.Second

// recentRetention is the least time a tombstone of an ended operation is
// trusted for, and so kept.
const recentRetention = 30 * time.Second

// recentWindow is how long tombstones are trusted for with a cache synced
// every sync: quiet stands for "o is still right" only if o is younger than
// the window, and a cache that syncs keeps copies up to three intervals old
// (past that it bypasses itself). Instances sharing a master database should
// share their sync interval, since each prunes by its own window.
func recentWindow(sync time.Duration) time.Duration { return recentRetention + 3*max(sync, 0) }

// quiet reports whether no operation runs on the organization now and none
// ended within the store's tombstone window. The caller's copy of the
// organization must be younger than that window (see latest).
func (s *Store) quiet(ctx context.Context, orgID string) (bool, error) {
	if busy, err := findByID(ctx, s.ops(), orgID, &opDoc{}); err != nil || busy {
		return false, err
	}
	filter := bson.D{{Key: "org", Value: orgID}, {Key: "ended_at", Value: bson.D{{Key: "$gte", Value: s.now().Add(-s.tombs)}}}}
	err := s.recent().FindOne(ctx, filter).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return true, nil
	}
	return false, translate(err)
}

// pruneRecent deletes tombstones older than their retention.
func (s *Store) pruneRecent(ctx context.Context) error {
	_, err := s.recent().DeleteMany(ctx, bson.D{{Key: "ended_at", Value: bson.D{{Key: "$lt", Value: s.now().Add(-2 * s.tombs)}}}})
	return translate(err)
}
