package mongodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Operation kinds and phases, as journaled in opDoc.
const (
	opCreate = "create"
	opUpdate = "update"
	opDelete = "delete"
	opMove   = "move"

	phaseRelease = "release" // committed; old keys are being released
	phaseUndo    = "undo"    // refused; the reservations are being undone
)

// Statuses as stored.
const (
	stCreating = string(orgd.StatusCreating)
	stActive   = string(orgd.StatusActive)
	stUpdating = "updating"
	stDeleting = string(orgd.StatusDeleting)
	stMoving   = string(orgd.StatusMoving)
)

// ErrAbort, returned by a test hook, stops an operation where it is, as if the
// process had died: nothing is undone, and the reconciler must repair it.
var ErrAbort error = &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "The operation was interrupted; it will be finished or undone shortly."}

// errForeignData marks a refusal to write over data of unknown origin, made
// before the operation changed anything: it can be undone.
var errForeignData = errors.New("the target holds data of unknown origin")

// errLostLease means another process took the operation over; this run stops.
var errLostLease = &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "The operation was interrupted; retry shortly."}

// run is one execution of a journaled operation: the process that inserted
// or took over the journal entry, and nobody else, writes the record.
type run struct {
	s     *Store
	d     orgDoc // the record, as this run knows it
	op    *opDoc
	ended bool   // the journal entry is deleted: the operation is over
	at    string // the step the run is at
	// activating: a create sent the write that marks its organization
	// active, which may have landed whatever its answer.
	activating bool
}

// step runs the test hook, checks that the operation is still this run's and
// keeps its lease: when half of it has passed it is renewed.
func (r *run) step(ctx context.Context, name string) error {
	r.at = name
	if h := r.s.hooks.BeforeStep; h != nil {
		if err := h(r.op.Kind, name); err != nil {
			return err
		}
	}
	return r.keep(ctx)
}

// keep checks that the operation is still this run's and renews its lease
// when half of it has passed.
func (r *run) keep(ctx context.Context) error {
	var cur opDoc
	if ok, err := findByID(ctx, r.s.ops(), r.op.OrgID, &cur); err != nil {
		return err
	} else if !ok || cur.ID != r.op.ID || cur.Epoch != r.op.Epoch {
		return errLostLease
	}
	now := r.s.now()
	if now.Before(r.op.LeaseUntil.Add(-r.s.lease / 2)) {
		return nil
	}
	r.op.LeaseUntil = now.Add(r.s.lease)
	return r.setOp(ctx, bson.D{{Key: "lease_until", Value: r.op.LeaseUntil}})
}

// setOp updates the journal entry, if it is still this run's.
func (r *run) setOp(ctx context.Context, set bson.D) error {
	return ownWrite(updateOne(ctx, r.s.ops(), r.opFilter(), bson.D{{Key: "$set", Value: set}}))
}

// updateOne applies update to the document of c that filter matches, and
// reports whether there was one.
func updateOne(ctx context.Context, c *mongo.Collection, filter, update bson.D) (bool, error) {
	var res *mongo.UpdateResult
	err := retry(ctx, func() (err error) {
		res, err = c.UpdateOne(ctx, filter, update)
		return err
	})
	if err != nil {
		return false, translate(err)
	}
	return res.MatchedCount > 0, nil
}

// ownWrite is the outcome of a write of this run's own document: one that
// found none has lost the operation to another run.
func ownWrite(matched bool, err error) error {
	if err == nil && !matched {
		return errLostLease
	}
	return err
}

// opFilter matches the journal entry only while it is this run's: a run
// that stalled past its lease between a step's check and a write must not
// write over, or delete, the entry of the run that took over, or of the
// organization's next operation.
func (r *run) opFilter() bson.D {
	return bson.D{{Key: "_id", Value: r.op.OrgID}, {Key: "op_id", Value: r.op.ID}, {Key: "epoch", Value: r.op.Epoch}}
}

// setOrg updates the organization record if this run's operation is still
// the one that claimed it, and no later run of it has taken it over: a run
// that stalled past its lease must not write over the record while the
// operation after it, or the run that took over from it, holds it.
func (r *run) setOrg(ctx context.Context, set bson.D) error {
	return r.writeOrg(ctx, bson.D{{Key: "_id", Value: r.d.ID}, {Key: "op_id", Value: r.op.ID}, epochAtMost(r.op.Epoch)}, set)
}

// claimOrg is setOrg for a run's first write to the record, which claims it
// for the operation and this run's epoch: from the operation that held it
// when this run read it, or from an earlier run of this one, so that a run
// that stalled before its claim cannot take the record from the operation or
// the run after it.
func (r *run) claimOrg(ctx context.Context, set bson.D) error {
	from := bson.A{bson.D{{Key: "op_id", Value: r.op.ID}, epochAtMost(r.op.Epoch)}}
	switch r.d.OpID {
	case r.op.ID:
	case "": // a record no operation has claimed yet
		from = append(from, bson.D{{Key: "op_id", Value: bson.D{{Key: "$exists", Value: false}}}})
	default:
		from = append(from, bson.D{{Key: "op_id", Value: r.d.OpID}})
	}
	r.d.OpID, r.d.OpEpoch = r.op.ID, r.op.Epoch
	filter := bson.D{{Key: "_id", Value: r.d.ID}, {Key: "$or", Value: from}}
	return r.writeOrg(ctx, filter, append(set, bson.E{Key: "op_id", Value: r.op.ID}, bson.E{Key: "op_epoch", Value: r.op.Epoch}))
}

// epochAtMost matches a record claimed by a run of epoch e or earlier; a
// record written before epochs were kept on it has none.
func epochAtMost(e int) bson.E {
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "op_epoch", Value: bson.D{{Key: "$lte", Value: e}}}},
		bson.D{{Key: "op_epoch", Value: bson.D{{Key: "$exists", Value: false}}}},
	}}
}

func (r *run) writeOrg(ctx context.Context, filter, set bson.D) error {
	defer r.s.forget(r.s.orgs(), r.d.ID)
	if err := ownWrite(updateOne(ctx, r.s.orgs(), filter, bson.D{{Key: "$set", Value: set}})); err != nil {
		return err
	}
	if h := r.s.hooks.AfterWrite; h != nil {
		return h(r.op.Kind, r.at)
	}
	return nil
}

// end deletes the journal entry, and the takeover markers of its epochs.
func (r *run) end(ctx context.Context) error {
	// A tombstone tells writers of tenant data that the organization's data
	// moved or went away lately (see settle in settle.go); only renames,
	// moves and deletes leave one (a create's data was nowhere before). An
	// end resumed later renews its time: the window it opens must follow
	// the publish below, which the other instances' caches wait for.
	if r.op.Kind == opDelete || r.op.Kind != opCreate && r.op.NewCollection != "" {
		filter := bson.D{{Key: "_id", Value: r.op.ID}}
		set := bson.D{{Key: "$set", Value: bson.D{{Key: "org", Value: r.op.OrgID}, {Key: "ended_at", Value: r.s.now()}}}}
		err := retry(ctx, func() error {
			_, err := r.s.recent().UpdateOne(ctx, filter, set, options.UpdateOne().SetUpsert(true))
			return err
		})
		if err != nil && !mongo.IsDuplicateKeyError(err) { // two upserts raced: the other wrote it as well
			return translate(err)
		}
	}
	if h := r.s.hooks.BeforeStep; h != nil {
		if err := h(r.op.Kind, "publish"); err != nil {
			return err
		}
	}
	if err := r.s.publish(ctx, r.touched()); err != nil {
		return err
	}
	for e := 1; e <= r.op.Epoch; e++ {
		if err := r.s.deleteID(ctx, r.s.takes(), takeID(r.op.ID, e)); err != nil {
			return err
		}
	}
	var res *mongo.DeleteResult
	err := retry(ctx, func() (err error) {
		res, err = r.s.ops().DeleteOne(ctx, r.opFilter())
		return err
	})
	if err != nil {
		return translate(err)
	}
	if res.DeletedCount == 0 { // deleted by a retry whose answer was lost, or someone else's now
		var cur opDoc
		if ok, err := findByID(ctx, r.s.ops(), r.op.OrgID, &cur); err != nil {
			return err
		} else if ok {
			return errLostLease
		}
	}
	r.ended = true
	return nil
}

// touched lists the master documents the operation may have changed.
func (r *run) touched() []changeKey {
	o := r.op
	keys := []changeKey{{collOrgs, o.OrgID}}
	for _, k := range []string{r.d.NameKey, o.NewNameKey, o.OldNameKey} {
		if k != "" {
			keys = append(keys, changeKey{collNames, k})
		}
	}
	for _, k := range []string{o.NewEmailKey, o.OldEmailKey} {
		if k != "" {
			keys = append(keys, changeKey{collEmails, k})
		}
	}
	for _, id := range []string{r.d.AdminID, o.AdminID} {
		if id != "" {
			keys = append(keys, changeKey{collAdmins, id})
		}
	}
	return keys
}

func takeID(opID string, epoch int) string { return fmt.Sprintf("%s/%d", opID, epoch) }

// acquire journals a new operation of kind on organization orgID. The insert
// of the entry fails when another operation holds the organization: busy.
func (s *Store) acquire(ctx context.Context, orgID, kind string) (*opDoc, error) {
	now := s.now()
	op := &opDoc{OrgID: orgID, ID: s.newID(), Kind: kind, StartedAt: now, LeaseUntil: now.Add(s.lease), Format: 1}
	if err := s.insert(ctx, s.ops(), op); mongo.IsDuplicateKeyError(err) {
		return nil, nil
	} else if err != nil {
		return nil, translate(err)
	}
	return op, nil
}

// reserve inserts the key _id=key into c for this organization. It is
// idempotent: a key this organization already holds counts as reserved.
func (r *run) reserve(ctx context.Context, c *mongo.Collection, key, adminID string, taken error) error {
	err := r.s.insert(ctx, c, keyDoc{ID: key, OrgID: r.d.ID, AdminID: adminID, CreatedAt: r.s.now()})
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return translate(err)
	}
	if held, err := r.holds(ctx, c, key); err != nil || held {
		return err
	}
	return taken
}

// release deletes key from c if this organization holds it.
func (r *run) release(ctx context.Context, c *mongo.Collection, key string) error {
	if key == "" {
		return nil
	}
	defer r.s.forget(c, key)
	return translate(retry(ctx, func() error {
		_, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "org_id", Value: r.d.ID}})
		return err
	}))
}

// configured ends the operation, before it has changed anything, when the
// organization's data is on a deployment that is not configured (left out
// of ORGD_CLUSTERS): started, it would keep the organization busy until that
// deployment is configured again.
func (r *run) configured(ctx context.Context) error {
	_, err := r.s.deps.client(r.s.placeOf(&r.d).Deployment)
	if err != nil {
		if eerr := r.end(ctx); eerr != nil {
			r.s.log.Error("end operation", "org_id", r.d.ID, "err", eerr)
		}
	}
	return err
}

// dropHeld drops p, the data place of the name key, unless this
// organization has released that key: the drop always comes before the
// release, so a released key means a resumed run has dropped p already, and
// p may now be the place of a new organization of that name. (An empty key:
// the place is not a name's.)
func (r *run) dropHeld(ctx context.Context, nameKey string, p place) error {
	if nameKey != "" {
		if held, err := r.holds(ctx, r.s.names(), nameKey); err != nil {
			return err
		} else if !held {
			return nil
		}
	}
	return r.s.dropTenant(ctx, p)
}

// holds reports whether this organization holds key in c.
func (r *run) holds(ctx context.Context, c *mongo.Collection, key string) (bool, error) {
	var cur keyDoc
	ok, err := findByID(ctx, c, key, &cur)
	return ok && cur.OrgID == r.d.ID, err
}

func nameTaken(name string) error {
	return orgd.Errorf(orgd.ECONFLICT, "Organization name %q is already taken.", name)
}

func emailTaken() error {
	return orgd.Errorf(orgd.ECONFLICT, "Email address is already used by another admin.")
}

// detach gives an operation a time limit of its own, so that a client
// hanging up does not leave it half done for the reconciler.
func (s *Store) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return detachFor(ctx, max(10*s.lease, time.Minute))
}

// detachFor is ctx without its cancellation, cancelled after d instead. The
// bound is a timer, not a deadline: the driver applies ORGD_DB_TIMEOUT to
// each command only on a context without one, and with a deadline a command
// could run until it, long past the grace another instance waits before
// taking an abandoned operation over (a late drop or rename landing after
// the takeover).
func detachFor(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := time.AfterFunc(d, cancel)
	return ctx, func() { t.Stop(); cancel() }
}
