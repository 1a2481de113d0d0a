package mongodb

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// unpause resumes the writes of an organization whose move was stopped while
// they were paused; the move goes back to catching up when it is resumed.
func (r *run) unpause() {
	if r.op.Phase != phasePaused {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.setOrg(ctx, bson.D{{Key: "status", Value: stActive}}); err != nil {
		r.s.log.Error("resume writes of a stopped move", "org_id", r.d.ID, "err", err)
		return
	}
	if err := r.publish(ctx); err != nil {
		r.s.log.Error("publish a stopped move", "org_id", r.d.ID, "err", err)
	}
	// The pause ended here: counted with the earlier ones, not from a
	// paused_at that would go on ageing while writes flow.
	before := r.op.paused(r.s.now())
	if err := r.setPhase(ctx, phaseCatchUp, bson.E{Key: "paused_before", Value: before}, bson.E{Key: "paused_at", Value: time.Time{}}); err != nil {
		r.s.log.Error("journal a stopped move", "org_id", r.d.ID, "err", err)
	}
}

// undoMove abandons a move before its switch: writes resume where the data
// was, and the copy is dropped. Should the record show that the switch did
// happen (its write was sent but not acknowledged), the move is finished instead.
func (r *run) undoMove(ctx context.Context) error {
	s, op := r.s, r.op
	var cur orgDoc
	if ok, err := findByID(ctx, s.orgs(), r.d.ID, &cur); err != nil {
		return err
	} else if ok && s.placeOf(&cur) == s.target(op) {
		r.d = cur
		if op.Phase == phaseUndo {
			// Journaled as undone, yet switched: no run can get here now
			// that writes of the record are fenced by epoch, but were one
			// to, moveForward would send it straight back to undoMove.
			if err := r.setPhase(ctx, phaseSwitched, bson.E{Key: "switched_at", Value: s.now()}); err != nil {
				return err
			}
		}
		return r.moveForward(ctx)
	}
	if op.Phase != phaseUndo {
		if err := r.setPhase(ctx, phaseUndo, bson.E{Key: "error", Value: op.Error}); err != nil {
			return err
		}
	}
	if err := r.step(ctx, "undo_unpause"); err != nil {
		return err
	}
	if err := r.setOrg(ctx, bson.D{{Key: "status", Value: stActive}}); err != nil {
		return err
	}
	r.d.Status = stActive
	if !op.PausedAt.IsZero() && op.ResumedAt.IsZero() { // how long the writes were paused, for the record
		op.ResumedAt = s.now()
		if err := r.setOp(ctx, bson.D{{Key: "resumed_at", Value: op.ResumedAt}}); err != nil {
			return err
		}
	}
	// Other instances learned of the pause: they learn of its end now, not
	// only once the copy is dropped (which fails while its deployment is down).
	if err := r.publish(ctx); err != nil {
		return err
	}
	if err := r.step(ctx, "undo_drop_copy"); err != nil {
		return err
	}
	if err := s.dropUnlessRetired(ctx, s.target(op)); err != nil {
		return err
	}
	if err := r.step(ctx, "undo_finish"); err != nil {
		return err
	}
	// A copy write this move sent to a deployment that stopped answering
	// (a batch that timed out) may still be queued there, and land once it
	// answers again: after the drop, which recreates the copy with it. No
	// one else writes there (the place follows the name, which this
	// organization holds), so the copy is looked at again once such writes
	// have had time to land, and dropped again should any have.
	if err := r.dropLateCopy(ctx); err != nil {
		return err
	}
	return r.finishMove(ctx, "undone")
}

// dropUnlessRetired drops what a move leaves behind at p, unless p's
// deployment has been taken out of the configuration meanwhile (retired once
// it showed no tenants): the move then ends anyway, rather than keep the
// organization busy for good, and the copy stays there for a person.
func (s *Store) dropUnlessRetired(ctx context.Context, p place) error {
	if _, err := s.deps.client(p.Deployment); err != nil {
		s.log.Warn("move: left the data it no longer needs on a deployment that is not configured any more",
			"deployment", p.Deployment, "database", p.Database, "collection", p.Collection)
		return nil
	}
	return s.dropTenant(ctx, p)
}

// finishMove records the move's outcome and ends its operation.
func (r *run) finishMove(ctx context.Context, outcome string) error {
	s, op := r.s, r.op
	h := moveDoc{ID: op.ID, OrgID: op.OrgID, Name: r.d.Name, From: s.source(op), To: s.target(op),
		StartedAt: op.StartedAt, FinishedAt: s.now(), Documents: op.Copied, Outcome: outcome, Error: op.Error}
	h.PausedMS = op.paused(s.now()).Milliseconds()
	var cur opDoc
	if ok, err := findByID(ctx, s.ops(), op.OrgID, &cur); err != nil {
		return err
	} else if ok {
		h.Checksum = cur.Checksum
	}
	if err := s.insert(ctx, s.moves(), h); err != nil && !mongo.IsDuplicateKeyError(err) {
		return translate(err)
	}
	return r.end(ctx)
}

// lateCopyChecks bounds how many times an undo looks for copy writes that
// landed after it dropped the copy.
const lateCopyChecks = 5

// dropLateCopy waits the drain time, then drops the undone move's copy again
// if anything landed there since it was dropped, until it stays empty.
func (r *run) dropLateCopy(ctx context.Context) error {
	s, t := r.s, r.s.target(r.op)
	if _, err := s.deps.client(t.Deployment); err != nil {
		return nil // retired: the copy stays there for a person (dropUnlessRetired)
	}
	for range lateCopyChecks {
		if err := r.wait(ctx, s.drain); err != nil {
			return err
		}
		c, err := s.dataIn(ctx, t)
		if err != nil || c == "" {
			return err
		}
		s.log.Warn("undo move: a copy write landed after the copy was dropped; dropping it again",
			"org_id", r.d.ID, "deployment", t.Deployment, "database", t.Database, "collection", c)
		if err := s.dropTenant(ctx, t); err != nil {
			return err
		}
	}
	return fmt.Errorf("undo move of %s: the copy on %s keeps receiving writes", r.d.ID, t.Deployment)
}
