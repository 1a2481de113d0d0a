package mongodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Phases of a move, as journaled. The copy has none yet.
const (
	phaseCatchUp  = "catch_up" // the bulk copy is done; writes made meanwhile are being copied
	phasePaused   = "paused"   // the organization's writes are paused for the final sync
	phaseSwitched = "switched" // the record points at the copy, which serves; the source is dropped next
)

// catchUpPasses bounds the passes that copy writes made during a move before
// its writes are paused.
const catchUpPasses = 3

// collMoves keeps the outcome of every finished move (_id: operation id), so
// that an operator can see how long writes were paused and what was verified.
const collMoves = "moves"

func (s *Store) moves() *mongo.Collection { return s.masterColl(collMoves) }

// moveDoc is a finished move.
type moveDoc struct {
	ID         string    `bson:"_id"`
	OrgID      string    `bson:"org_id"`
	Name       string    `bson:"name"`
	From       place     `bson:"from"`
	To         place     `bson:"to"`
	StartedAt  time.Time `bson:"started_at"`
	FinishedAt time.Time `bson:"finished_at"`
	Documents  int64     `bson:"documents"`
	PausedMS   int64     `bson:"paused_ms"`
	Checksum   string    `bson:"checksum,omitempty"`
	Outcome    string    `bson:"outcome"` // moved, undone
	Error      string    `bson:"error,omitempty"`
}

// StartMove moves organization orgID to the deployment and tenancy model in
// want (an empty deployment: the same one if a model is named, else the
// placement policy's choice of another), in the background: it returns once
// the move is journaled. Watch it with MoveStatus.
func (s *Store) StartMove(ctx context.Context, orgID string, want orgd.Placement) (*orgd.MoveProgress, error) {
	// Like every operation, once begun it is not abandoned half-planned
	// because the caller hung up.
	ctx, cancel := s.detach(ctx)
	defer cancel()
	r, err := s.beginMove(ctx, orgID, want)
	if err != nil {
		return nil, err
	}
	p := s.progress(r.op, r.d.Name)
	// Once Close has begun, the journaled move is left for the reconciler.
	s.bg.run(func() {
		err := r.move(s.bg.ctx)
		switch {
		case err == nil:
		case s.bg.ctx.Err() != nil: // Close: a shutdown, not a failure
			s.log.Info("move stopped by the shutdown: the reconciler finishes it", "org_id", orgID)
		default:
			s.log.Error("move", "org_id", orgID, "err", err)
		}
	})
	return p, nil
}

// Move moves organization orgID as StartMove does, and returns when it is done.
func (s *Store) Move(ctx context.Context, orgID string, want orgd.Placement) error {
	r, err := s.beginMove(ctx, orgID, want)
	if err != nil {
		return err
	}
	return r.move(ctx)
}

// beginMove journals a move: where from, where to, how much to copy.
func (s *Store) beginMove(ctx context.Context, orgID string, want orgd.Placement) (*run, error) {
	var v orgd.Validation
	v.Check("tenancy", orgd.ValidateTenancy(want.Tenancy))
	if want.Deployment != "" {
		v.Check("deployment", orgd.ValidateDeployment(want.Deployment))
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	r, _, err := s.begin(ctx, orgID, opMove)
	if err != nil {
		return nil, err
	}
	if err := r.planMove(ctx, want); err != nil {
		if eerr := r.end(ctx); eerr != nil {
			s.log.Error("end operation", "org_id", orgID, "err", eerr)
		}
		return nil, err
	}
	return r, nil
}

func (r *run) planMove(ctx context.Context, want orgd.Placement) error {
	s, op := r.s, r.op
	src := s.placeOf(&r.d)
	if want.Deployment == "" && want.Tenancy != "" {
		want.Deployment = src.Deployment
	}
	dep, tenancy, err := s.chooseMove(ctx, want, src)
	if err != nil {
		return err
	}
	s.addCount(dep, -1) // counted when the move is done
	dst := s.placeFor(r.d.ID, r.d.Name, dep, tenancy)
	if dst == src {
		return orgd.Errorf(orgd.ECONFLICT, "Organization %q is already on deployment %q in the %s model.", r.d.Name, dep, tenancy)
	}
	colls, err := s.tenantColls(ctx, src)
	if err != nil {
		return err
	}
	if err := fits(src, dst, colls); err != nil {
		return orgd.Errorf(orgd.ECONFLICT, "Organization %q cannot move to the collection model: its database holds more than one collection.", r.d.Name)
	}
	if err := s.mustBeEmpty(ctx, dst); err != nil {
		return err
	}
	db, err := s.database(src)
	if err != nil {
		return err
	}
	for _, c := range colls {
		n, err := db.Collection(c).EstimatedDocumentCount(ctx)
		if err != nil {
			return translate(err)
		}
		op.Total += n
	}
	op.Deployment, op.Tenancy, op.OldDatabase, op.OldCollection = src.Deployment, src.Tenancy, src.Database, src.Collection
	op.NewDeployment, op.NewTenancy, op.NewDatabase, op.NewCollection = dst.Deployment, dst.Tenancy, dst.Database, dst.Collection
	op.CopyStartedAt = s.now()
	if err := r.journal(ctx); err != nil {
		return err
	}
	return r.claimOrg(ctx, nil) // its pause, its switch or its undo writes the record
}

// move runs a move to its end. A failure before the switch is undone (the
// organization stays where it was, its writes resumed); an interruption (the
// process stopping) is left for the reconciler, which resumes the move.
func (r *run) move(ctx context.Context) error {
	err := r.moveForward(ctx)
	switch {
	case err == nil, errors.Is(err, ErrAbort), errors.Is(err, errLostLease):
		return err
	case ctx.Err() != nil:
		r.unpause()
		return err
	case r.op.Phase == phaseSwitched:
		return err // past the point of no return: the reconciler finishes it
	}
	r.op.Error = orgd.ErrorMessage(err)
	if uerr := r.undoMove(ctx); uerr != nil {
		r.s.log.Error("undo move", "org_id", r.d.ID, "err", uerr)
	}
	return err
}

// moveForward carries a move on from its journaled phase.
func (r *run) moveForward(ctx context.Context) error {
	s, op := r.s, r.op
	src, dst := s.source(op), s.target(op)
	// A crash may have struck between switching the record and journaling it:
	// what the record says decides.
	if op.Phase != phaseSwitched && op.Phase != phaseUndo && s.placeOf(&r.d) == dst {
		if err := r.setPhase(ctx, phaseSwitched, bson.E{Key: "switched_at", Value: s.now()}); err != nil {
			return err
		}
	}
	switch op.Phase {
	case phaseUndo:
		return r.undoMove(ctx)
	case "":
		if err := r.copyTenant(ctx, src, dst, false); err != nil {
			return err
		}
		if err := r.setPhase(ctx, phaseCatchUp); err != nil {
			return err
		}
		fallthrough
	case phaseCatchUp:
		// Each pass copies the writes made during the one before; a few passes
		// leave little for the paused one.
		for pass := 0; pass < catchUpPasses; pass++ {
			if err := r.step(ctx, "catch_up"); err != nil {
				return err
			}
			if got, err := r.sync(ctx); err != nil {
				return err
			} else if got.fixed <= s.batch/10 {
				break
			}
		}
		if err := r.step(ctx, "pause"); err != nil {
			return err
		}
		if err := r.setPhase(ctx, phasePaused, bson.E{Key: "paused_at", Value: s.now()}); err != nil {
			return err
		}
		fallthrough
	case phasePaused:
		if err := r.finalSync(ctx, src, dst); err != nil {
			return err
		}
		fallthrough
	case phaseSwitched:
		// Requests that read the record before the switch finish with the
		// source meanwhile: reads find it whole, and writes that land there
		// are redone in the copy by the records API, which checks after each
		// write whether the organization moved. The switch is published
		// here, also by a run that resumes one that died between switching
		// the record and publishing it: the other instances must learn of
		// it before the source goes.
		if err := r.publish(ctx); err != nil {
			return err
		}
		if err := r.step(ctx, "drain"); err != nil {
			return err
		}
		if err := r.sleepUntil(ctx, op.SwitchedAt.Add(s.drain)); err != nil {
			return err
		}
		if err := r.step(ctx, "drop_source"); err != nil {
			return err
		}
		if err := s.dropUnlessRetired(ctx, src); err != nil {
			return err
		}
		if err := r.step(ctx, "finish"); err != nil {
			return err
		}
		s.addCount(src.Deployment, -1)
		s.addCount(dst.Deployment, 1)
		return r.finishMove(ctx, "moved")
	}
	return fmt.Errorf("move of %s: unknown phase %q", r.d.ID, op.Phase)
}

// finalSync pauses the organization's writes, makes the copy equal to the
// source, verifies it by count and checksum, and switches the record to it,
// which resumes writes there. Reads go on throughout.
func (r *run) finalSync(ctx context.Context, src, dst place) error {
	s, op := r.s, r.op
	if err := r.step(ctx, "final_sync"); err != nil {
		return err
	}
	if r.d.Status != stMoving { // the new version tells racing writers to look again
		if err := r.markBusy(ctx, stMoving); err != nil {
			return err
		}
	}
	if err := r.publish(ctx); err != nil {
		return err
	}
	// Other instances' caches learn of the pause within their sync interval,
	// and requests that read the record before it finish their writes.
	if err := r.wait(ctx, s.drain); err != nil {
		return err
	}
	got, err := r.sync(ctx)
	if err != nil {
		return err
	}
	if err := r.step(ctx, "verify"); err != nil {
		return err
	}
	if err := got.verify("move of " + r.d.ID); err != nil {
		return err
	}
	// Journaled before the switch: a run that dies between switching and
	// journaling the phase is finished by another, which reports it.
	n := got.n
	op.Checksum, op.Verified = fmt.Sprintf("%016x", got.sum), n
	if err := r.setOp(ctx, bson.D{{Key: "checksum", Value: op.Checksum}, {Key: "verified", Value: n}}); err != nil {
		return err
	}
	if err := r.step(ctx, "switch"); err != nil {
		return err
	}
	now := s.now()
	set := bson.D{{Key: "deployment", Value: dst.Deployment}, {Key: "tenancy", Value: dst.Tenancy},
		{Key: "database", Value: dst.Database}, {Key: "collection", Value: dst.Collection},
		{Key: "status", Value: stActive}, {Key: "updated_at", Value: now}}
	if err := r.setOrg(ctx, set); err != nil {
		return err
	}
	r.d.Deployment, r.d.Tenancy, r.d.Database, r.d.Collection, r.d.Status = dst.Deployment, dst.Tenancy, dst.Database, dst.Collection, stActive
	if err := r.step(ctx, "publish_switch"); err != nil { // published once switched (moveForward)
		return err
	}
	s.log.Info("move switched", "org_id", r.d.ID, "to", dst.Deployment, "tenancy", dst.Tenancy, "documents", n,
		"writes_paused_ms", (op.PausedBefore + now.Sub(op.PausedAt)).Milliseconds())
	return r.setPhase(ctx, phaseSwitched, bson.E{Key: "switched_at", Value: now})
}

// publish tells the other instances' caches at once that the record
// changed, rather than when the move ends: the pause and the switch must be
// seen within a cache sync interval, which the drain time exceeds.
func (r *run) publish(ctx context.Context) error {
	return r.s.publish(ctx, []changeKey{{collOrgs, r.d.ID}})
}

// setPhase journals the move's new phase, with more fields to set.
func (r *run) setPhase(ctx context.Context, phase string, more ...bson.E) error {
	r.op.Phase = phase
	for _, e := range more {
		switch e.Key {
		case "paused_at":
			r.op.PausedAt = e.Value.(time.Time)
		case "paused_before":
			r.op.PausedBefore = e.Value.(time.Duration)
		case "switched_at":
			r.op.SwitchedAt = e.Value.(time.Time)
		}
	}
	return r.setOp(ctx, append(bson.D{{Key: "phase", Value: phase}}, more...))
}

// sleepUntil waits until t by the store's clock, or at most the drain time.
func (r *run) sleepUntil(ctx context.Context, t time.Time) error {
	return r.wait(ctx, min(t.Sub(r.s.now()), r.s.drain))
}

// wait sleeps for d and keeps the lease meanwhile. The drain may outlast
// what is left of the lease: a run that let it lapse would be taken over by
// another instance, which would wait as long and lose it the same way.
func (r *run) wait(ctx context.Context, d time.Duration) error {
	for d > 0 {
		nap := min(d, r.s.lease/4)
		if err := sleep(ctx, nap); err != nil {
			return err
		}
		d -= nap
		if err := r.keep(ctx); err != nil {
			return err
		}
	}
	return nil
}
