package mongodb

import (
	"context"
	"errors"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

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
	if r.op.NewCollection != "" { // the data moves
		if err := r.configured(ctx); err != nil {
			return nil, err
		}
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
			if errors.Is(err, errForeignData) { // refused before anything moved
				if uerr := r.undoUpdate(ctx); uerr != nil {
					r.s.log.Error("undo update", "org_id", r.d.ID, "err", uerr)
				}
			}
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

// checkTarget refuses a rename whose target holds data: a copy would merge
// into it (and its sync delete what the source lacks), and a collection
// rename cannot happen. It is checked once, before anything moves (so the
// update can still be undone), and journaled: a resumed run then knows that
// what it finds there is its own. A journal of an earlier version, which
// did not record the check and may have moved data already, refuses only
// data that is not the organization's records.
func (r *run) checkTarget(ctx context.Context) error {
	op := r.op
	if op.TargetChecked {
		return nil
	}
	t := r.s.target(op)
	c, err := r.s.dataIn(ctx, t)
	if err != nil {
		return err
	}
	if c != "" && op.Format == 0 {
		// A journal of an earlier version may have moved its data already:
		// when its source is gone, a copy is under way, or the target holds
		// records of this organization, what is there is its own.
		begun := op.CopyColl != ""
		if op.NewDatabase == "" {
			there, err := r.s.collectionExists(ctx, r.s.source(op))
			if err != nil {
				return err
			}
			begun = !there
		}
		if !begun {
			own, err := r.s.firstIn(ctx, t, bson.D{{Key: fieldOrg, Value: r.d.ID}})
			if err != nil {
				return err
			}
			begun = own != ""
		}
		if begun {
			c = ""
		}
	}
	if c != "" {
		return errors.Join(orgd.Errorf(orgd.ECONFLICT, "The target %s.%s on %s already holds data of unknown origin; run orgd doctor.", t.Database, c, t.Deployment), errForeignData)
	}
	op.TargetChecked = true
	return r.setOp(ctx, bson.D{{Key: "target_checked", Value: true}})
}

// applyUpdate moves the collection, updates the admin and commits the new
// values on the record; every step is safe to repeat.
func (r *run) applyUpdate(ctx context.Context) error {
	d, op := &r.d, r.op
	if op.NewCollection != "" {
		if err := r.step(ctx, "move_collection"); err != nil {
			return err
		}
		if err := r.checkTarget(ctx); err != nil {
			return err
		}
		var err error
		if op.NewDatabase != "" {
			err = r.copyTenant(ctx, r.s.source(op), r.s.target(op), true)
		} else {
			err = r.s.renameCollection(ctx, r.s.source(op), op.NewCollection, r.d.ID)
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
		if err := r.dropHeld(ctx, op.OldNameKey, r.s.source(op)); err != nil {
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
