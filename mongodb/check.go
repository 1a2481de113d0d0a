package mongodb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Problem is one broken invariant, in plain words.
type Problem struct {
	Text string
	// Repair fixes the problem without losing data and says what it did; nil
	// when that is not possible and a person must decide.
	Repair func(context.Context) (string, error)
	// Auto is true when the reconciler repairs it by itself.
	Auto bool
}

// snapshot is the master database and the tenant collections, read in the
// order that makes a consistent reading possible without transactions:
// everything a record owns is written after the record and removed before
// it, so reading the owned things first and the records last never shows an
// owned thing without its owner, except for a real orphan.
type snapshot struct {
	collections map[string][]string // database -> org_* collections
	names       []keyDoc
	emails      []keyDoc
	admins      []adminDoc
	orgs        []orgDoc
	ops         []opDoc
}

func all[T any](ctx context.Context, c *mongo.Collection) ([]T, error) {
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		return nil, translate(err)
	}
	var out []T
	return out, translate(cur.All(ctx, &out))
}

func (s *Store) snapshot(ctx context.Context) (*snapshot, error) {
	dbs := []string{s.tenant.Name()}
	pre, err := all[orgDoc](ctx, s.orgs())
	if err != nil {
		return nil, err
	}
	preOps, err := all[opDoc](ctx, s.ops())
	if err != nil {
		return nil, err
	}
	for _, d := range pre {
		if !slices.Contains(dbs, d.Database) {
			dbs = append(dbs, d.Database)
		}
	}
	for _, o := range preOps {
		if o.NewDatabase != "" && !slices.Contains(dbs, o.NewDatabase) {
			dbs = append(dbs, o.NewDatabase)
		}
	}
	sn := &snapshot{collections: map[string][]string{}}
	for _, db := range dbs {
		names, err := s.client.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return nil, translate(err)
		}
		for _, n := range names {
			if strings.HasPrefix(n, orgd.CollectionPrefix) {
				sn.collections[db] = append(sn.collections[db], n)
			}
		}
	}
	if sn.names, err = all[keyDoc](ctx, s.names()); err != nil {
		return nil, err
	}
	if sn.emails, err = all[keyDoc](ctx, s.emails()); err != nil {
		return nil, err
	}
	if sn.admins, err = all[adminDoc](ctx, s.admins()); err != nil {
		return nil, err
	}
	if sn.orgs, err = all[orgDoc](ctx, s.orgs()); err != nil {
		return nil, err
	}
	// The journal last: an operation's entry is written before anything it
	// touches and deleted after.
	if sn.ops, err = all[opDoc](ctx, s.ops()); err != nil {
		return nil, err
	}
	return sn, nil
}

// Check reads the whole master database and the tenant collections and
// returns every broken invariant: an organization missing its collection,
// admin or keys; a key, admin or collection no organization owns; an
// operation its owner abandoned. Operations still under lease are skipped.
func (s *Store) Check(ctx context.Context) ([]Problem, error) {
	sn, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	settled := now.Add(-s.lease - s.grace) // younger keys may belong to an operation in flight
	byID := map[string]*orgDoc{}
	byAdmin := map[string]*orgDoc{}
	nameOwners := map[string][]string{}
	for i := range sn.orgs {
		d := &sn.orgs[i]
		byID[d.ID], byAdmin[d.AdminID] = d, d
		if d.Status != stCreating {
			nameOwners[d.NameKey] = append(nameOwners[d.NameKey], d.Name)
		}
	}
	admins := map[string]*adminDoc{}
	for i := range sn.admins {
		admins[sn.admins[i].ID] = &sn.admins[i]
	}
	names := map[string]*keyDoc{}
	for i := range sn.names {
		names[sn.names[i].ID] = &sn.names[i]
	}
	emails := map[string]*keyDoc{}
	for i := range sn.emails {
		emails[sn.emails[i].ID] = &sn.emails[i]
	}
	ops := map[string]*opDoc{}
	for i := range sn.ops {
		ops[sn.ops[i].OrgID] = &sn.ops[i]
	}
	var probs []Problem
	add := func(p Problem) { probs = append(probs, p) }

	for _, o := range sn.ops {
		if o.LeaseUntil.Before(now.Add(-s.grace)) {
			name := o.NewName
			if d := byID[o.OrgID]; d != nil {
				name = d.Name
			}
			add(Problem{Auto: true, Text: fmt.Sprintf("organization %q (%s) has an interrupted %s operation, started %s",
				name, o.OrgID, o.Kind, o.StartedAt.Format("2006-01-02 15:04:05Z07:00")), Repair: s.resumeFix(o)})
		}
	}
	for i := range sn.orgs {
		d := sn.orgs[i]
		label := fmt.Sprintf("organization %q (%s)", d.Name, d.ID)
		if ops[d.ID] != nil {
			continue // an operation holds it: checked once it ends
		}
		if d.Status != stActive {
			add(Problem{Text: fmt.Sprintf("%s is %s but journals no operation: inspect it by hand", label, d.Status)})
			continue
		}
		if len(nameOwners[d.NameKey]) > 1 {
			add(Problem{Text: fmt.Sprintf("name %q is used by %d organizations: %s", d.NameKey, len(nameOwners[d.NameKey]), strings.Join(nameOwners[d.NameKey], ", "))})
		}
		if k := names[d.NameKey]; k == nil {
			add(Problem{Text: fmt.Sprintf("%s does not hold its name key %q, so its name could be taken twice", label, d.NameKey),
				Repair: s.insertKeyFix(s.names(), keyDoc{ID: d.NameKey, OrgID: d.ID})})
		} else if k.OrgID != d.ID {
			add(Problem{Text: fmt.Sprintf("%s: its name key %q is held by organization %s", label, d.NameKey, k.OrgID)})
		}
		a := admins[d.AdminID]
		if a == nil || a.OrgID != d.ID {
			add(Problem{Text: fmt.Sprintf("%s has no admin account (%s): nobody can log in to it", label, d.AdminID)})
		} else if key := orgd.NormalizeEmail(a.Email); emails[key] == nil {
			add(Problem{Text: fmt.Sprintf("%s: its admin's email key %q is missing, so the email could be taken twice and login fails", label, key),
				Repair: s.insertKeyFix(s.emails(), keyDoc{ID: key, OrgID: d.ID, AdminID: a.ID})})
		} else if k := emails[key]; k.AdminID != a.ID {
			add(Problem{Text: fmt.Sprintf("%s: its admin's email key %q is held by admin %s", label, key, k.AdminID)})
		}
		if !slices.Contains(sn.collections[d.Database], d.Collection) {
			add(Problem{Text: fmt.Sprintf("%s: its collection %s.%s is missing", label, d.Database, d.Collection),
				Repair: func(ctx context.Context) (string, error) {
					if err := s.createCollection(ctx, d.Database, d.Collection); err != nil {
						return "", err
					}
					return fmt.Sprintf("created an empty collection %s.%s for %s (any data it had is gone)", d.Database, d.Collection, label), nil
				}})
		}
	}

	for _, k := range sn.names {
		if o := ops[k.OrgID]; o != nil && (o.NewNameKey == k.ID || o.OldNameKey == k.ID) {
			continue
		}
		if d := byID[k.OrgID]; d != nil && d.NameKey == k.ID || k.CreatedAt.After(settled) {
			continue
		}
		add(Problem{Auto: true, Text: fmt.Sprintf("name key %q is held by organization %s, which does not claim it", k.ID, k.OrgID),
			Repair: s.deleteKeyFix(s.names(), k, "name")})
	}
	for _, k := range sn.emails {
		if o := ops[k.OrgID]; o != nil && (o.NewEmailKey == k.ID || o.OldEmailKey == k.ID) {
			continue
		}
		if d, a := byID[k.OrgID], admins[k.AdminID]; d != nil && a != nil && d.AdminID == a.ID && orgd.NormalizeEmail(a.Email) == k.ID {
			continue
		}
		if k.CreatedAt.After(settled) {
			continue
		}
		add(Problem{Auto: true, Text: fmt.Sprintf("email key %q is held by admin %s, which does not claim it", k.ID, k.AdminID),
			Repair: s.deleteKeyFix(s.emails(), k, "email")})
	}
	for _, a := range sn.admins {
		if d := byAdmin[a.ID]; d != nil && d.ID == a.OrgID {
			continue
		}
		if o := ops[a.OrgID]; o != nil && o.AdminID == a.ID || a.CreatedAt.After(settled) {
			continue
		}
		add(Problem{Auto: true, Text: fmt.Sprintf("admin %s (organization %s) belongs to no organization", a.ID, a.OrgID),
			Repair: func(ctx context.Context) (string, error) {
				if ok, err := findByID(ctx, s.orgs(), a.OrgID, &orgDoc{}); err != nil || ok {
					return "", err
				}
				if ok, err := findByID(ctx, s.ops(), a.OrgID, &opDoc{}); err != nil || ok {
					return "", err
				}
				return "deleted orphan admin " + a.ID, s.deleteID(ctx, s.admins(), a.ID)
			}})
	}
	claimed := map[string]bool{}
	for _, d := range sn.orgs {
		claimed[d.Database+"."+d.Collection] = true
	}
	for _, o := range sn.ops {
		db := o.NewDatabase
		if db == "" {
			db = o.OldDatabase
		}
		claimed[db+"."+o.NewCollection] = true
		claimed[o.OldDatabase+"."+o.OldCollection] = true
	}
	for db, colls := range sn.collections {
		for _, c := range colls {
			if !claimed[db+"."+c] {
				probs = append(probs, s.orphanCollection(ctx, db, c))
			}
		}
	}
	return probs, nil
}

// orphanCollection describes a tenant collection no organization claims: an
// empty one is dropped, one holding data is kept for a person to decide.
func (s *Store) orphanCollection(ctx context.Context, db, name string) Problem {
	n, err := s.client.Database(db).Collection(name).EstimatedDocumentCount(ctx)
	if err != nil || n > 0 {
		return Problem{Text: fmt.Sprintf("collection %s.%s belongs to no organization and holds %d documents: kept; move or drop it by hand", db, name, n)}
	}
	return Problem{Auto: true, Text: fmt.Sprintf("collection %s.%s belongs to no organization and is empty", db, name),
		Repair: func(ctx context.Context) (string, error) {
			c := s.client.Database(db).Collection(name)
			if n, err := c.EstimatedDocumentCount(ctx); err != nil || n > 0 {
				return "", translate(err)
			}
			return fmt.Sprintf("dropped empty orphan collection %s.%s", db, name), translate(c.Drop(ctx))
		}}
}

func (s *Store) resumeFix(o opDoc) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		r, err := s.adopt(ctx, o)
		if err != nil || r == nil {
			return "", err
		}
		return r.resume(ctx)
	}
}

func (s *Store) insertKeyFix(c *mongo.Collection, k keyDoc) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		k.CreatedAt = s.now()
		if err := s.insert(ctx, c, k); err != nil {
			return "", translate(err)
		}
		if err := s.publish(ctx, []changeKey{{c.Name(), k.ID}}); err != nil {
			return "", err
		}
		return fmt.Sprintf("restored key %q in %s", k.ID, c.Name()), nil
	}
}

// deleteKeyFix deletes an orphan key, checking first that its owner still does not claim it.
func (s *Store) deleteKeyFix(c *mongo.Collection, k keyDoc, what string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if busy, err := findByID(ctx, s.ops(), k.OrgID, &opDoc{}); err != nil || busy {
			return "", err // its owner is in an operation: checked again once it ends
		}
		var d orgDoc
		ok, err := findByID(ctx, s.orgs(), k.OrgID, &d)
		if err != nil {
			return "", err
		}
		if ok && d.NameKey == k.ID {
			return "", nil // its owner claims it now
		}
		if ok && what == "email" {
			var a adminDoc
			if found, err := findByID(ctx, s.admins(), k.AdminID, &a); err != nil || found && orgd.NormalizeEmail(a.Email) == k.ID {
				return "", err
			}
		}
		defer s.forget(c, k.ID)
		_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "org_id", Value: k.OrgID}})
		if err != nil {
			return "", translate(err)
		}
		if err := s.publish(ctx, []changeKey{{c.Name(), k.ID}}); err != nil {
			return "", err
		}
		return fmt.Sprintf("released orphan %s key %q", what, k.ID), nil
	}
}
