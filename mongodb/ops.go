package mongodb

import (
	"context"
	"errors"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// CreateOrganization creates an organization, its admin and its tenant
// collection, placed by the placement policy.
func (s *Store) CreateOrganization(ctx context.Context, name, email, passwordHash string) (*orgd.Organization, error) {
	return s.CreateOrganizationAt(ctx, name, email, passwordHash, orgd.Placement{})
}

// CreateOrganizationAt creates an organization, its admin and its tenant
// collection on the deployment and in the tenancy model asked for (empty:
// the placement policy's and the configuration's choice). Name and email
// uniqueness come from inserting their keys, so of concurrent creates of one
// name exactly one succeeds.
func (s *Store) CreateOrganizationAt(ctx context.Context, name, email, passwordHash string, want orgd.Placement) (*orgd.Organization, error) {
	ctx, cancel := s.detach(ctx)
	defer cancel()
	dep, tenancy, err := s.choose(ctx, want)
	if err != nil {
		return nil, err
	}
	id := s.newID()
	p := s.placeFor(id, name, dep, tenancy)
	now := s.now()
	d := orgDoc{
		ID: id, Name: name, NameKey: orgd.NormalizeName(name),
		Database: p.Database, Collection: p.Collection, Deployment: p.Deployment, Tenancy: p.Tenancy,
		AdminID: s.newID(), Status: stCreating, CreatedAt: now, UpdatedAt: now,
	}
	// The journal entry goes first, with everything needed to undo the create.
	op := &opDoc{OrgID: d.ID, ID: s.newID(), Kind: opCreate, Planned: true, StartedAt: now, LeaseUntil: now.Add(s.lease),
		NewName: d.Name, NewNameKey: d.NameKey, NewDatabase: d.Database, NewCollection: d.Collection,
		NewDeployment: p.Deployment, NewTenancy: p.Tenancy,
		NewEmail: email, NewEmailKey: orgd.NormalizeEmail(email), AdminID: d.AdminID}
	if err := s.insert(ctx, s.ops(), op); err != nil {
		s.addCount(dep, -1)
		return nil, translate(err)
	}
	d.OpID = op.ID
	r := &run{s: s, d: d, op: op}
	if err := r.create(ctx, passwordHash); err != nil && r.d.Status == stActive && !errors.Is(err, ErrAbort) && !errors.Is(err, errLostLease) {
		// Created: only ending its journal entry failed, which the
		// reconciler does instead. (With the operation taken over, the
		// run that took it decides, and the client is told to retry.)
		s.log.Warn("create: the organization is active; its journal entry is left for the reconciler", "org_id", d.ID, "err", err)
	} else if err != nil && r.activating && !errors.Is(err, ErrAbort) && !errors.Is(err, errLostLease) {
		// Its activation may have landed without its answer, and the
		// organization be in use: undoing it here could delete what its
		// admin wrote since. The reconciler decides from the record.
		s.log.Warn("create: whether the organization became active is unknown; its journal entry is left for the reconciler", "org_id", d.ID, "err", err)
		return nil, err
	} else if err != nil {
		s.addCount(dep, -1)
		if orgd.ErrorCode(err) == orgd.EUNAVAILABLE && !errors.Is(err, ErrAbort) && !errors.Is(err, errLostLease) &&
			want.Deployment == "" && s.deps.name(dep) != s.deps.home {
			s.markDown(dep)
		}
		if !errors.Is(err, ErrAbort) && !errors.Is(err, errLostLease) {
			if uerr := r.undoCreate(ctx); uerr != nil {
				s.log.Error("undo create", "org_id", d.ID, "err", uerr)
			}
		}
		return nil, err
	}
	return r.d.domain(s.deps.home), nil
}

func (r *run) create(ctx context.Context, passwordHash string) error {
	d, op := &r.d, r.op
	if err := r.step(ctx, "insert_record"); err != nil {
		return err
	}
	if err := r.s.insert(ctx, r.s.orgs(), d); err != nil && !mongo.IsDuplicateKeyError(err) {
		return translate(err)
	}
	if err := r.step(ctx, "reserve_name"); err != nil {
		return err
	}
	if err := r.reserve(ctx, r.s.names(), d.NameKey, "", nameTaken(d.Name)); err != nil {
		return err
	}
	if err := r.step(ctx, "reserve_email"); err != nil {
		return err
	}
	if err := r.reserve(ctx, r.s.emails(), op.NewEmailKey, d.AdminID, emailTaken()); err != nil {
		return err
	}
	if err := r.step(ctx, "insert_admin"); err != nil {
		return err
	}
	now := r.s.now()
	a := adminDoc{ID: d.AdminID, OrgID: d.ID, Email: op.NewEmail, PasswordHash: passwordHash, CreatedAt: now, UpdatedAt: now}
	if err := r.s.insert(ctx, r.s.admins(), a); err != nil && !mongo.IsDuplicateKeyError(err) {
		return translate(err)
	}
	if err := r.step(ctx, "create_collection"); err != nil {
		return err
	}
	if err := r.s.createCollection(ctx, r.s.target(op)); err != nil {
		return err
	}
	if err := r.step(ctx, "activate"); err != nil {
		return err
	}
	r.activating = true
	if err := r.setOrg(ctx, bson.D{{Key: "status", Value: stActive}}); err != nil {
		return err
	}
	// From here the organization is in use (its admin can log in and write
	// records): whatever stops the create now, it is finished, never undone.
	d.Status = stActive
	if err := r.step(ctx, "activated"); err != nil {
		return err
	}
	return r.end(ctx)
}

// undoCreate removes whatever an unfinished create made, journal last, so
// that an interrupted undo is itself undone again later.
func (r *run) undoCreate(ctx context.Context) error {
	d, op := &r.d, r.op
	// The collection is this organization's only if it holds the name, and
	// this create made it only if it is empty: a create writes no documents,
	// and one that found data there (createCollection refuses it) must leave
	// that data, of unknown origin, for a person to decide about.
	if held, err := r.holds(ctx, r.s.names(), op.NewNameKey); err != nil {
		return err
	} else if held {
		if err := r.step(ctx, "undo_drop_collection"); err != nil {
			return err
		}
		t := r.s.target(op)
		held, err := r.s.dataIn(ctx, t)
		switch {
		case err != nil && orgd.ErrorCode(err) == orgd.EUNAVAILABLE && r.s.deps.name(t.Deployment) != r.s.deps.home:
			// Its deployment does not answer: what this create made there, if
			// anything, is an empty collection, which the reconciler's sweep
			// drops once it does. The name and email must not wait for it.
			r.s.log.Warn("undo create: its deployment is unavailable; an empty collection may stay there for the sweep",
				"org_id", d.ID, "deployment", t.Deployment)
		case err != nil:
			return err
		case held == "":
			if err := r.s.dropTenant(ctx, t); err != nil {
				return err
			}
		}
	}
	if err := r.step(ctx, "undo_delete_admin"); err != nil {
		return err
	}
	if err := r.s.deleteID(ctx, r.s.admins(), op.AdminID); err != nil {
		return err
	}
	if err := r.step(ctx, "undo_release"); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.emails(), op.NewEmailKey); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.names(), op.NewNameKey); err != nil {
		return err
	}
	if err := r.step(ctx, "undo_delete_record"); err != nil {
		return err
	}
	if err := r.s.deleteID(ctx, r.s.orgs(), d.ID); err != nil {
		return err
	}
	return r.end(ctx)
}

// begin journals an operation of kind on organization orgID and reads the
// organization, now that no other operation can change it.
func (s *Store) begin(ctx context.Context, orgID, kind string) (*run, adminDoc, error) {
	op, err := s.acquire(ctx, orgID, kind)
	if err != nil {
		return nil, adminDoc{}, err
	}
	if op == nil { // another operation holds it
		var d orgDoc
		if ok, err := findByID(ctx, s.orgs(), orgID, &d); err != nil {
			return nil, adminDoc{}, err
		} else if !ok || d.Status == stCreating {
			return nil, adminDoc{}, orgd.Errorf(orgd.ENOTFOUND, "Organization does not exist.")
		}
		return nil, adminDoc{}, busy(&d)
	}
	r := &run{s: s, op: op}
	d, a, err := s.loadActive(ctx, orgID)
	if err != nil {
		if eerr := r.end(ctx); eerr != nil {
			s.log.Error("end operation", "org_id", orgID, "err", eerr)
		}
		return nil, a, err
	}
	r.d = d
	return r, a, nil
}

// plan records the operation's intent in the journal, then marks the
// organization busy with status.
func (r *run) plan(ctx context.Context, status string) error {
	if err := r.journal(ctx); err != nil {
		return err
	}
	if err := r.step(ctx, "mark_busy"); err != nil {
		return err
	}
	r.d.Status = status
	return r.claimOrg(ctx, bson.D{{Key: "status", Value: status}})
}

// journal records the operation's intent in its journal entry.
func (r *run) journal(ctx context.Context) error {
	r.op.Planned = true
	set := bson.D{{Key: "planned", Value: true}}
	raw, err := bson.Marshal(r.op)
	if err != nil {
		return err
	}
	var all bson.D
	if err := bson.Unmarshal(raw, &all); err != nil {
		return err
	}
	for _, e := range all {
		if e.Key != "_id" && e.Key != "planned" {
			set = append(set, e)
		}
	}
	return r.setOp(ctx, set)
}

// markBusy shows readers that an operation holds the organization. The
// version tells writers of tenant data that raced the operation to look
// again (see settle.go).
func (r *run) markBusy(ctx context.Context, status string) error {
	r.d.Status, r.d.Version = status, r.d.Version+1
	return r.claimOrg(ctx, bson.D{{Key: "status", Value: status}, {Key: "version", Value: r.d.Version}})
}

// DeleteOrganization deletes the organization orgID with its collection,
// admin and keys. Once started it always completes.
func (s *Store) DeleteOrganization(ctx context.Context, orgID string) error {
	return s.DeleteOrganizationNamed(ctx, orgID, "")
}

// DeleteOrganizationNamed is DeleteOrganization of an organization the
// caller named: if a rename has taken that name from it since the caller
// looked it up, nothing is deleted and the name is not found, as it would
// have been a moment later ("" skips the check).
func (s *Store) DeleteOrganizationNamed(ctx context.Context, orgID, name string) error {
	ctx, cancel := s.detach(ctx)
	defer cancel()
	r, a, err := s.begin(ctx, orgID, opDelete)
	if err != nil {
		return err
	}
	if name != "" && orgd.NormalizeName(name) != r.d.NameKey {
		if err := r.end(ctx); err != nil {
			s.log.Error("end operation", "org_id", orgID, "err", err)
		}
		return orgd.Errorf(orgd.ENOTFOUND, "Organization %q does not exist.", name)
	}
	if err := r.configured(ctx); err != nil {
		return err
	}
	r.op.OldNameKey, r.op.OldEmailKey = r.d.NameKey, orgd.NormalizeEmail(a.Email)
	if err := r.plan(ctx, stDeleting); err != nil {
		return err
	}
	return r.delete(ctx)
}

func (r *run) delete(ctx context.Context) error {
	d, op := &r.d, r.op
	if err := r.step(ctx, "drop_collection"); err != nil {
		return err
	}
	if err := r.dropHeld(ctx, op.OldNameKey, r.s.placeOf(d)); err != nil {
		return err
	}
	if err := r.step(ctx, "delete_admin"); err != nil {
		return err
	}
	if err := r.s.deleteID(ctx, r.s.admins(), d.AdminID); err != nil {
		return err
	}
	if err := r.step(ctx, "release"); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.emails(), op.OldEmailKey); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.names(), op.OldNameKey); err != nil {
		return err
	}
	if err := r.step(ctx, "delete_record"); err != nil {
		return err
	}
	if err := r.s.deleteID(ctx, r.s.orgs(), d.ID); err != nil {
		return err
	}
	r.s.addCount(d.Deployment, -1)
	return r.end(ctx)
}
