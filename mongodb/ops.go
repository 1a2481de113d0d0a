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
	r := &run{s: s, d: d, op: op}
	if err := r.create(ctx, passwordHash); err != nil {
		s.addCount(dep, -1)
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
	if err := r.setOrg(ctx, bson.D{{Key: "status", Value: stActive}}); err != nil {
		return err
	}
	d.Status = stActive
	return r.end(ctx)
}

// undoCreate removes whatever an unfinished create made, journal last, so
// that an interrupted undo is itself undone again later.
func (r *run) undoCreate(ctx context.Context) error {
	d, op := &r.d, r.op
	// The collection is this organization's only if it holds the name.
	if held, err := r.holds(ctx, r.s.names(), op.NewNameKey); err != nil {
		return err
	} else if held {
		if err := r.step(ctx, "undo_drop_collection"); err != nil {
			return err
		}
		if err := r.s.dropTenant(ctx, r.s.target(op)); err != nil {
			return err
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
	return r.setOrg(ctx, bson.D{{Key: "status", Value: status}})
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
// again (see records.go).
func (r *run) markBusy(ctx context.Context, status string) error {
	r.d.Status, r.d.Version = status, r.d.Version+1
	return r.setOrg(ctx, bson.D{{Key: "status", Value: status}, {Key: "version", Value: r.d.Version}})
}

// UpdateOrganization applies upd to the organization orgID: a new name renames
// its collection, a new email moves the admin's login, a new hash replaces the
// password. Taken names or emails are ECONFLICT and change nothing.
func (s *Store) UpdateOrganization(ctx context.Context, orgID string, upd orgd.OrganizationUpdate) (*orgd.Organization, error) {
	ctx, cancel := s.detach(ctx)
	defer cancel()
	r, a, err := s.begin(ctx, orgID, opUpdate)
	if err != nil {
		return nil, err
	}
	if !s.planUpdate(r, &a, upd) {
		return r.d.domain(s.deps.home), r.end(ctx) // nothing to change
	}
	if err := r.plan(ctx, stUpdating); err != nil {
		return nil, err
	}
	if err := r.update(ctx); err != nil {
		return nil, err
	}
	return r.d.domain(s.deps.home), nil
}

// loadActive reads an active organization and its admin.
func (s *Store) loadActive(ctx context.Context, orgID string) (orgDoc, adminDoc, error) {
	var d orgDoc
	var a adminDoc
	if ok, err := findByID(ctx, s.orgs(), orgID, &d); err != nil {
		return d, a, err
	} else if !ok || d.Status == stCreating {
		return d, a, orgd.Errorf(orgd.ENOTFOUND, "Organization does not exist.")
	} else if d.Status != stActive {
		return d, a, busy(&d)
	}
	if ok, err := findByID(ctx, s.admins(), d.AdminID, &a); err != nil {
		return d, a, err
	} else if !ok {
		return d, a, errors.New("organization " + d.ID + " has no admin")
	}
	return d, a, nil
}

// planUpdate fills the run's operation with the changes asked for, and
// reports whether anything would change.
func (s *Store) planUpdate(r *run, a *adminDoc, upd orgd.OrganizationUpdate) bool {
	d, op := &r.d, r.op
	if upd.Name != nil && *upd.Name != d.Name {
		op.NewName = *upd.Name
		if key := orgd.NormalizeName(*upd.Name); key != d.NameKey {
			op.NewNameKey, op.NewCollection, op.OldNameKey = key, orgd.CollectionName(*upd.Name), d.NameKey
			src := s.placeOf(d)
			op.OldDatabase, op.OldCollection, op.Deployment, op.Tenancy = src.Database, src.Collection, src.Deployment, src.Tenancy
			// The database changes with the name in the database model, and in
			// the collection model when the tenant database was renamed in the
			// configuration: the data moves there by copy. A change of
			// ORGD_TENANT_DBS only places new organizations.
			if dst := s.placeFor(d.ID, *upd.Name, src.Deployment, src.Tenancy); dst.Database != src.Database &&
				(src.Tenancy == tenancyDatabase || !s.isSharedDB(src.Database)) {
				op.NewDatabase = dst.Database
			}
		}
	}
	if upd.Email != nil && *upd.Email != a.Email {
		op.NewEmail = *upd.Email
		if key := orgd.NormalizeEmail(*upd.Email); key != orgd.NormalizeEmail(a.Email) {
			op.NewEmailKey, op.OldEmailKey = key, orgd.NormalizeEmail(a.Email)
		}
	}
	if upd.PasswordHash != nil {
		op.PasswordHash = *upd.PasswordHash
	}
	return op.NewName != "" || op.NewEmail != "" || op.PasswordHash != ""
}

// update runs an update forward. Until both new keys are held nothing else has
// changed, so a taken key undoes the reservations; after that it only goes forward.
func (r *run) update(ctx context.Context) error {
	op := r.op
	if op.Phase == phaseUndo {
		return r.undoUpdate(ctx)
	}
	if op.Phase != phaseRelease {
		if err := r.reserveUpdate(ctx); err != nil {
			if orgd.ErrorCode(err) == orgd.ECONFLICT && err != errLostLease {
				if uerr := r.undoUpdate(ctx); uerr != nil {
					r.s.log.Error("undo update", "org_id", r.d.ID, "err", uerr)
				}
			}
			return err
		}
		if err := r.applyUpdate(ctx); err != nil {
			return err
		}
	}
	return r.finishUpdate(ctx)
}

func (r *run) reserveUpdate(ctx context.Context) error {
	op := r.op
	if op.NewNameKey != "" {
		if err := r.step(ctx, "reserve_name"); err != nil {
			return err
		}
		if err := r.reserve(ctx, r.s.names(), op.NewNameKey, "", nameTaken(op.NewName)); err != nil {
			return err
		}
	}
	if op.NewEmailKey != "" {
		if err := r.step(ctx, "reserve_email"); err != nil {
			return err
		}
		if err := r.reserve(ctx, r.s.emails(), op.NewEmailKey, r.d.AdminID, emailTaken()); err != nil {
			return err
		}
	}
	return nil
}

// applyUpdate moves the collection, updates the admin and commits the new
// values on the record; every step is safe to repeat.
func (r *run) applyUpdate(ctx context.Context) error {
	d, op := &r.d, r.op
	if op.NewCollection != "" {
		if err := r.step(ctx, "move_collection"); err != nil {
			return err
		}
		var err error
		if op.NewDatabase != "" {
			err = r.copyTenant(ctx, r.s.source(op), r.s.target(op), true)
		} else {
			err = r.s.renameCollection(ctx, r.s.source(op), op.NewCollection)
		}
		if err != nil {
			return err
		}
	}
	if op.NewEmail != "" || op.PasswordHash != "" {
		if err := r.step(ctx, "update_admin"); err != nil {
			return err
		}
		set := bson.D{{Key: "updated_at", Value: r.s.now()}}
		if op.NewEmail != "" {
			set = append(set, bson.E{Key: "email", Value: op.NewEmail})
		}
		if op.PasswordHash != "" {
			set = append(set, bson.E{Key: "password_hash", Value: op.PasswordHash})
		}
		if err := r.s.updateID(ctx, r.s.admins(), d.AdminID, bson.D{{Key: "$set", Value: set}}); err != nil {
			return err
		}
		// A new password ends every earlier login, after the new hash is
		// stored (see revokeAdminSessions); a resumed operation does it again.
		if op.PasswordHash != "" {
			if err := r.s.revokeAdminSessions(ctx, d.AdminID, orgd.RevokePasswordChanged); err != nil {
				return err
			}
		}
	}
	if err := r.step(ctx, "commit"); err != nil {
		return err
	}
	set := bson.D{{Key: "updated_at", Value: r.s.now()}}
	if op.NewName != "" {
		d.Name = op.NewName
		set = append(set, bson.E{Key: "name", Value: d.Name})
	}
	if op.NewCollection != "" {
		d.NameKey, d.Collection = op.NewNameKey, op.NewCollection
		set = append(set, bson.E{Key: "name_key", Value: d.NameKey}, bson.E{Key: "collection", Value: d.Collection})
	}
	if op.NewDatabase != "" {
		d.Database = op.NewDatabase
		set = append(set, bson.E{Key: "database", Value: d.Database})
	}
	if err := r.setOrg(ctx, set); err != nil {
		return err
	}
	op.Phase = phaseRelease
	return r.setOp(ctx, bson.D{{Key: "phase", Value: phaseRelease}, {Key: "password_hash", Value: ""}})
}

// finishUpdate releases what the committed update no longer needs and marks
// the organization active.
func (r *run) finishUpdate(ctx context.Context) error {
	d, op := &r.d, r.op
	if op.NewDatabase != "" {
		if err := r.step(ctx, "drop_source"); err != nil {
			return err
		}
		if err := r.s.dropTenant(ctx, r.s.source(op)); err != nil {
			return err
		}
	}
	if err := r.step(ctx, "release"); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.names(), op.OldNameKey); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.emails(), op.OldEmailKey); err != nil {
		return err
	}
	if err := r.step(ctx, "finish"); err != nil {
		return err
	}
	d.Status, d.UpdatedAt = stActive, r.s.now()
	if err := r.setOrg(ctx, bson.D{{Key: "status", Value: stActive}, {Key: "updated_at", Value: d.UpdatedAt}}); err != nil {
		return err
	}
	return r.end(ctx)
}

// undoUpdate releases the new keys and returns the organization to active.
// It journals its decision first, so that a resumed run undoes too.
func (r *run) undoUpdate(ctx context.Context) error {
	op := r.op
	if op.Phase != phaseUndo {
		op.Phase = phaseUndo
		if err := r.setOp(ctx, bson.D{{Key: "phase", Value: phaseUndo}}); err != nil {
			return err
		}
	}
	if err := r.step(ctx, "undo_release"); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.names(), op.NewNameKey); err != nil {
		return err
	}
	if err := r.release(ctx, r.s.emails(), op.NewEmailKey); err != nil {
		return err
	}
	if err := r.step(ctx, "undo_finish"); err != nil {
		return err
	}
	if err := r.setOrg(ctx, bson.D{{Key: "status", Value: stActive}}); err != nil {
		return err
	}
	return r.end(ctx)
}

// DeleteOrganization deletes the organization orgID with its collection,
// admin and keys. Once started it always completes.
func (s *Store) DeleteOrganization(ctx context.Context, orgID string) error {
	ctx, cancel := s.detach(ctx)
	defer cancel()
	r, a, err := s.begin(ctx, orgID, opDelete)
	if err != nil {
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
	if err := r.s.dropTenant(ctx, r.s.placeOf(d)); err != nil {
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
