package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Reconcile finishes or undoes every operation whose owner has stopped
// renewing its lease (crashed, killed, cut off), then repairs what a dead
// process's late writes can leave behind. It is safe on several instances at
// once: an abandoned operation is taken over by inserting a takeover marker,
// which only one instance can do. It returns one line per thing it did; a
// repair that fails is reported with the others' errors and does not hold
// them back.
func (s *Store) Reconcile(ctx context.Context) ([]string, error) {
	probs, err := s.Check(ctx)
	if err != nil {
		return nil, err
	}
	var did []string
	var errs []error
	s.leftoverMu.Lock()
	defer s.leftoverMu.Unlock()
	seen := make(map[nsKey]time.Time) // what is left over now; the rest is forgotten
	defer func() { s.leftovers = seen }()
	for i, p := range probs {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err()) // a round cut short is no success
			for _, p := range probs[i:] {  // not reached: still as old as they were
				if first, ok := s.leftovers[p.ns]; ok && p.Leftover {
					seen[p.ns] = first
				}
			}
			break
		}
		if !p.Auto || p.Leftover && !s.leftoverAged(p.ns, seen) {
			continue
		}
		msg, err := p.Repair(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Text, err))
		} else if msg != "" {
			did = append(did, msg)
		}
	}
	return did, errors.Join(errs...)
}

// leftoverAged reports whether the empty orphan database k has been found
// so for longer than a write to it can still be running, noting in seen
// when it was first found. On the embedded database, dropping a database
// deletes its file, under any write still running there: one that began
// before its organization went away, or that came from an instance whose
// cache had not heard of it yet, which FerretDB failed with 500s and once
// in a while crashed on. Such writes end within writeLimit, and caches
// hear within the tombstone window.
func (s *Store) leftoverAged(k nsKey, seen map[nsKey]time.Time) bool {
	first, ok := s.leftovers[k]
	if !ok {
		first = s.now()
	}
	seen[k] = first
	return s.now().Sub(first) >= writeLimit+s.tombs
}

// Resume finishes or undoes the operations their owners abandoned. It reads
// only the journal, which holds just the operations in flight, so its cost
// does not grow with the number of organizations. Like Reconcile, it goes
// on past an operation that cannot be finished yet.
func (s *Store) Resume(ctx context.Context) ([]string, error) {
	ops, err := all[opDoc](ctx, s.ops())
	if err != nil {
		return nil, err
	}
	var did []string
	var errs []error
	for _, o := range ops {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err()) // a round cut short is no success
			break
		}
		msg, err := s.resumeFix(o)(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("resume the %s of organization %s: %w", o.Kind, o.OrgID, err))
		} else if msg != "" {
			did = append(did, msg)
		}
	}
	return did, errors.Join(errs...)
}

// sweepEvery is how many reconciler rounds pass at least between full
// sweeps, which read every record, key and admin.
const sweepEvery = 10

// sweepPace is how many times its own duration a full sweep waits, at
// least, before the next one. A sweep's cost grows with the number of
// organizations (at 10,000 of them, under load, about 8 s of reading every
// master document): paced so, sweeps take at most 1% of the time, and with
// few organizations one still comes every tenth round.
const sweepPace = 100

// sweepPacer decides which reconciler rounds also sweep.
type sweepPacer struct {
	round int       // the last sweep's round; -1 before the first
	next  time.Time // no sweep before then: sweepPace times the last one's duration after it ended
}

// due reports whether round should sweep at now: the first round does, and
// after it a round sweepEvery or more rounds after the last sweep, once the
// pace allows.
func (p *sweepPacer) due(round int, now time.Time) bool {
	return p.round < 0 || round-p.round >= sweepEvery && !now.Before(p.next)
}

// swept records that round swept from start to end.
func (p *sweepPacer) swept(round int, start, end time.Time) {
	p.round, p.next = round, end.Add(sweepPace*end.Sub(start))
}

// RunReconciler resumes abandoned operations now and then every interval,
// and at the pace sweepPacer sets also sweeps for orphans, until ctx ends,
// logging what it repaired.
func (s *Store) RunReconciler(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	pacer := sweepPacer{round: -1}
	for round := 0; ; round++ {
		sweep := pacer.due(round, s.now())
		reconcile := s.Resume
		if sweep {
			reconcile = s.Reconcile
		}
		if err := s.pruneRecent(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reconciler: could not prune tombstones", "err", err)
		}
		started := s.now()
		did, err := reconcile(ctx)
		if sweep {
			pacer.swept(round, started, s.now())
		}
		for _, d := range did {
			log.Info("reconciler", "repaired", d)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("reconciler", "err", err)
		}
		if s.reconciled != nil && ctx.Err() == nil {
			s.reconciled(sweep, len(did), err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// adopt takes over an operation whose lease expired more than the grace
// period ago. It returns nil when another process took it first or it ended.
func (s *Store) adopt(ctx context.Context, op opDoc) (*run, error) {
	now := s.now()
	if !op.LeaseUntil.Before(now.Add(-s.grace)) {
		return nil, nil
	}
	// Take the next epoch by inserting its marker. A marker already there
	// means another instance took it, unless that instance died before it
	// could record its epoch in the journal: a marker older than a lease and
	// its grace whose epoch the journal never reached is passed over.
	next := op.Epoch + 1
	for ; ; next++ {
		err := s.insert(ctx, s.takes(), bson.D{{Key: "_id", Value: takeID(op.ID, next)}, {Key: "at", Value: now}})
		if err == nil {
			break
		} else if !mongo.IsDuplicateKeyError(err) {
			return nil, translate(err)
		}
		var marker struct {
			At time.Time `bson:"at"`
		}
		if ok, err := findByID(ctx, s.takes(), takeID(op.ID, next), &marker); err != nil || !ok {
			return nil, err
		}
		if marker.At.After(now.Add(-s.lease-s.grace)) || next > op.Epoch+100 {
			return nil, nil // taken by an instance that may still be working on it
		}
	}
	var cur opDoc
	if ok, err := findByID(ctx, s.ops(), op.OrgID, &cur); err != nil {
		return nil, err
	} else if !ok || cur.ID != op.ID || cur.Epoch != op.Epoch || !cur.LeaseUntil.Before(now.Add(-s.grace)) { // it ended or moved on meanwhile
		return nil, s.deleteID(ctx, s.takes(), takeID(op.ID, next))
	}
	op = cur // the entry as it is now: its owner may have journaled more since the list was read
	// Only from the epoch read: another instance may have taken it meanwhile.
	taken := bson.D{{Key: "_id", Value: op.OrgID}, {Key: "op_id", Value: op.ID}, {Key: "epoch", Value: op.Epoch}}
	op.Epoch, op.LeaseUntil = next, now.Add(s.lease)
	if ok, err := updateOne(ctx, s.ops(), taken, bson.D{{Key: "$set", Value: bson.D{{Key: "epoch", Value: op.Epoch}, {Key: "lease_until", Value: op.LeaseUntil}}}}); err != nil {
		return nil, err
	} else if !ok {
		return nil, s.deleteID(ctx, s.takes(), takeID(op.ID, next))
	}
	r := &run{s: s, op: &op, d: orgDoc{ID: op.OrgID}}
	if ok, err := findByID(ctx, s.orgs(), op.OrgID, &r.d); err != nil {
		return nil, err
	} else if ok {
		// Claimed for this run's epoch, so that the stalled run it takes
		// over from can no longer write the record; or claimed at all, if
		// the operation had not yet (or its version did not claim records).
		if err := r.claimOrg(ctx, nil); err != nil {
			return nil, err
		}
		// Read again: until the claim, the stalled run could still write
		// the record (a create marking it active), and resume decides
		// from it.
		if ok, err := findByID(ctx, s.orgs(), op.OrgID, &r.d); err != nil {
			return nil, err
		} else if !ok {
			r.d = orgDoc{ID: op.OrgID}
		}
	}
	return r, nil
}

// resume carries an adopted operation to its end: an interrupted create is
// undone (its client never got a 201), an update is finished unless a key it
// needs is taken, a move is finished (or, if it fails, undone), a delete is
// finished.
func (r *run) resume(ctx context.Context) (string, error) {
	name := fmt.Sprintf("organization %q (%s)", r.d.Name, r.op.OrgID)
	if r.op.Kind == opCreate {
		name = fmt.Sprintf("organization %q (%s)", r.op.NewName, r.op.OrgID)
	}
	exists := r.d.Name != ""
	switch {
	case !r.op.Planned: // it had not changed anything yet
		return "dropped the unstarted " + r.op.Kind + " of " + name, r.end(ctx)
	case r.op.Kind == opCreate && exists && r.d.Status == stActive:
		// It stopped after the organization came into use: undoing it would
		// delete records written since.
		return "finished the interrupted create of " + name, r.end(ctx)
	case r.op.Kind == opCreate:
		return "undid the interrupted create of " + name, r.undoCreate(ctx)
	case exists && r.d.Status == stActive && r.op.Kind != opCreate && r.op.Kind != opMove:
		// It stopped between journaling its plan and marking the organization
		// busy. (A move leaves it active until its pause.)
		status := map[string]string{opUpdate: stUpdating, opDelete: stDeleting}[r.op.Kind]
		if err := r.markBusy(ctx, status); err != nil {
			return "", err
		}
		return r.resume(ctx)
	case r.op.Kind == opUpdate && exists:
		if err := r.update(ctx); err != nil && err != errLostLease && r.op.Phase == phaseUndo && r.ended {
			return "undid the interrupted update of " + name, nil // err says why it was undone
		} else if err != nil {
			return "", err
		}
		if r.op.Phase == phaseUndo {
			return "undid the interrupted update of " + name + ": a name or email it needed was taken", nil
		}
		return "finished the interrupted update of " + name, nil
	case r.op.Kind == opMove && exists:
		err := r.move(ctx)
		switch {
		case r.ended && r.op.Phase == phaseUndo:
			return "undid the interrupted move of " + name + ": " + r.op.Error, nil
		case err != nil:
			return "", err
		}
		return "finished the interrupted move of " + name, nil
	case r.op.Kind == opDelete && exists:
		return "finished the interrupted delete of " + name, r.delete(ctx)
	case r.op.Kind == opDelete:
		if err := r.release(ctx, r.s.emails(), r.op.OldEmailKey); err != nil {
			return "", err
		}
		if err := r.release(ctx, r.s.names(), r.op.OldNameKey); err != nil {
			return "", err
		}
		return "finished the interrupted delete of " + name, r.end(ctx)
	}
	return "ended the " + r.op.Kind + " of " + name + ", whose record is gone", r.end(ctx)
}
