package mongodb

import (
	"context"
	"fmt"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Operation kinds and phases, as journaled in orgDoc.Op.
const (
	opCreate = "create"
	opUpdate = "update"
	opDelete = "delete"

	phaseRelease = "release" // committed; old keys are being released
	phaseUndo    = "undo"    // refused; the reservations are being undone
)

// Statuses as stored.
const (
	stCreating = string(orgd.StatusCreating)
	stActive   = string(orgd.StatusActive)
	stUpdating = "updating"
	stDeleting = string(orgd.StatusDeleting)
)

// ErrAbort, returned by a test hook, stops an operation where it is, as if the
// process had died: nothing is undone, and the reconciler must repair it.
var ErrAbort error = &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "The operation was interrupted; it will be finished or undone shortly."}

// errLostLease means another process took the operation over; this run stops.
var errLostLease = &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "The operation was interrupted; retry shortly."}

// run is one execution of a journaled operation. Every write to the
// organization record is fenced by the op id, so a run that lost its lease
// cannot commit.
type run struct {
	s *Store
	d orgDoc
}

func (r *run) op() *opDoc { return r.d.Op }

// fence is the filter every write to the record of this run matches.
func (r *run) fence() bson.D {
	return bson.D{{Key: "_id", Value: r.d.ID}, {Key: "op.id", Value: r.op().ID}}
}

// step runs the test hook and keeps the lease: when half of it has passed it
// is renewed, and a run that can no longer renew stops.
func (r *run) step(ctx context.Context, name string) error {
	if h := r.s.hooks.BeforeStep; h != nil {
		if err := h(r.op().Kind, name); err != nil {
			return err
		}
	}
	now := r.s.now()
	if now.Before(r.op().LeaseUntil.Add(-r.s.lease / 2)) {
		return nil
	}
	until := now.Add(r.s.lease)
	if err := r.setRecord(ctx, bson.D{{Key: "op.lease_until", Value: until}}); err != nil {
		return err
	}
	r.op().LeaseUntil = until
	return nil
}

// setRecord applies $set to the record, fenced; errLostLease if it is not ours.
func (r *run) setRecord(ctx context.Context, set bson.D, unset ...string) error {
	u := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		un := bson.D{}
		for _, f := range unset {
			un = append(un, bson.E{Key: f, Value: ""})
		}
		u = append(u, bson.E{Key: "$unset", Value: un})
	}
	var res *mongo.UpdateResult
	err := retry(ctx, func() (err error) {
		res, err = r.s.orgs().UpdateOne(ctx, r.fence(), u)
		return err
	})
	if err != nil {
		return translate(err)
	}
	if res.MatchedCount == 0 {
		return errLostLease
	}
	return nil
}

// reserve inserts the key _id=key into c for this organization. It is
// idempotent: a key this organization already holds counts as reserved.
func (r *run) reserve(ctx context.Context, c *mongo.Collection, key, adminID string, taken error) error {
	doc := keyDoc{ID: key, OrgID: r.d.ID, AdminID: adminID, CreatedAt: r.s.now()}
	err := retry(ctx, func() error { _, err := c.InsertOne(ctx, doc); return err })
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return translate(err)
	}
	var cur keyDoc
	ok, err := findByID(ctx, c, key, &cur)
	if err != nil {
		return err
	}
	if ok && cur.OrgID == r.d.ID {
		return nil
	}
	return taken // held by another organization (or released and retaken: retry decides)
}

// release deletes key from c if this organization holds it.
func (r *run) release(ctx context.Context, c *mongo.Collection, key string) error {
	if key == "" {
		return nil
	}
	return translate(retry(ctx, func() error {
		_, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "org_id", Value: r.d.ID}})
		return err
	}))
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

// begin journals op on the record of an active organization: from here on
// the organization is busy and the operation can be finished by anyone.
func (s *Store) begin(ctx context.Context, d *orgDoc, status string, op *opDoc) (*run, error) {
	now := s.now()
	op.ID, op.StartedAt, op.LeaseUntil = s.newID(), now, now.Add(s.lease)
	filter := bson.D{{Key: "_id", Value: d.ID}, {Key: "status", Value: stActive}, {Key: "op", Value: bson.D{{Key: "$exists", Value: false}}}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: status}, {Key: "op", Value: op}}}}
	var res *mongo.UpdateResult
	err := retry(ctx, func() (err error) {
		res, err = s.orgs().UpdateOne(ctx, filter, update)
		return err
	})
	if err != nil {
		return nil, translate(err)
	}
	if res.MatchedCount == 0 { // someone else's operation got there first
		var cur orgDoc
		if ok, err := findByID(ctx, s.orgs(), d.ID, &cur); err != nil {
			return nil, err
		} else if !ok {
			return nil, orgd.Errorf(orgd.ENOTFOUND, "Organization %q does not exist.", d.Name)
		}
		return nil, busy(&cur)
	}
	d.Status, d.Op = status, op
	return &run{s: s, d: *d}, nil
}

// detach gives an operation its own deadline, so that a client hanging up
// does not leave it half done for the reconciler.
func (s *Store) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.lease/2)
}

// renameCollection renames the tenant collection from to to, within db, and
// is idempotent: a rename already done is success.
func (s *Store) renameCollection(ctx context.Context, db, from, to string) error {
	cmd := bson.D{{Key: "renameCollection", Value: db + "." + from}, {Key: "to", Value: db + "." + to}}
	err := s.client.Database("admin").RunCommand(ctx, cmd).Err()
	switch {
	case err == nil:
		return nil
	case hasCode(err, codeNamespaceNotFound):
		if ok, err := s.collectionExists(ctx, db, to); err != nil {
			return err
		} else if ok {
			return nil // done before
		}
		return fmt.Errorf("rename %s.%s: source and target both missing", db, from)
	case hasCode(err, codeNamespaceExists):
		// The target is a stray collection: this organization holds its name,
		// so no one else owns it. An empty one is dropped; data is never.
		if n, err := s.client.Database(db).Collection(to).EstimatedDocumentCount(ctx); err != nil {
			return translate(err)
		} else if n > 0 {
			return orgd.Errorf(orgd.ECONFLICT, "Collection %s already holds data of unknown origin; run orgd doctor.", to)
		}
		if err := s.client.Database(db).Collection(to).Drop(ctx); err != nil {
			return translate(err)
		}
		return translate(s.client.Database("admin").RunCommand(ctx, cmd).Err())
	}
	return translate(err)
}

func (s *Store) collectionExists(ctx context.Context, db, name string) (bool, error) {
	names, err := s.client.Database(db).ListCollectionNames(ctx, bson.D{{Key: "name", Value: name}})
	if err != nil {
		return false, translate(err)
	}
	return len(names) > 0, nil
}

// createCollection creates an empty tenant collection; an existing empty one
// is adopted (an earlier attempt of this operation made it).
func (s *Store) createCollection(ctx context.Context, db, name string) error {
	err := s.client.Database(db).CreateCollection(ctx, name)
	if err == nil || !hasCode(err, codeNamespaceExists) {
		return translate(err)
	}
	n, err := s.client.Database(db).Collection(name).EstimatedDocumentCount(ctx)
	if err != nil {
		return translate(err)
	}
	if n > 0 {
		return orgd.Errorf(orgd.ECONFLICT, "Collection %s already holds data of unknown origin; run orgd doctor.", name)
	}
	return nil
}
