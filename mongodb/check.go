package mongodb

import (
	"context"
	"fmt"
	"maps"
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
	// Leftover is true for an empty per-organization database no
	// organization claims, which is how a drop leaves one on the embedded
	// database (see dropTenant) until a later sweep: expected, not a
	// broken invariant.
	Leftover bool

	ns nsKey // the leftover database, for the reconciler's count of its age
}

// snapshot is the master database and the tenant collections, read in the
// order that makes a consistent reading possible without transactions:
// everything a record owns is written after the record and removed before
// it, so reading the owned things first and the records last never shows an
// owned thing without its owner, except for a real orphan.
type snapshot struct {
	// Tenant collections found: org_* collections of the shared tenant
	// databases, and every collection of the per-organization databases.
	collections map[nsKey]bool
	orgDBs      map[nsKey]bool    // per-organization databases found (coll empty)
	down        map[string]string // deployments that could not be read, and why
	names       []keyDoc
	emails      []keyDoc
	admins      []adminDoc
	orgs        []orgDoc
	ops         []opDoc
}

// nsKey names a collection, or with coll empty a database, on a deployment.
type nsKey struct{ dep, db, coll string }

func (p place) key() nsKey { return nsKey{p.Deployment, p.Database, p.Collection} }

func all[T any](ctx context.Context, c *mongo.Collection) ([]T, error) {
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		return nil, translate(err)
	}
	var out []T
	return out, translate(cur.All(ctx, &out))
}

func (s *Store) snapshot(ctx context.Context) (*snapshot, error) {
	pre, err := all[orgDoc](ctx, s.orgs())
	if err != nil {
		return nil, err
	}
	preOps, err := all[opDoc](ctx, s.ops())
	if err != nil {
		return nil, err
	}
	// The shared databases to look into on each deployment: the configured
	// tenant database, and any other that a record or an operation names.
	shared := map[string][]string{}
	addShared := func(p place) {
		if p.Database != "" && p.Tenancy != tenancyDatabase && !slices.Contains(shared[p.Deployment], p.Database) {
			shared[p.Deployment] = append(shared[p.Deployment], p.Database)
		}
	}
	for _, dep := range s.deps.names {
		for _, db := range append(s.sharedDBs(), s.tenant.Name()) {
			addShared(place{Deployment: dep, Database: db})
		}
	}
	for i := range pre {
		addShared(s.placeOf(&pre[i]))
	}
	for i := range preOps {
		addShared(s.source(&preOps[i]))
		addShared(s.target(&preOps[i]))
	}
	sn := &snapshot{collections: map[nsKey]bool{}, orgDBs: map[nsKey]bool{}, down: map[string]string{}}
	for _, dep := range s.deps.names {
		if err := s.listTenants(ctx, sn, dep, shared[dep]); unavailable(err) {
			sn.down[dep] = orgd.ErrorMessage(translate(err))
		} else if err != nil {
			return nil, translate(err)
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

// databaseNames lists the databases of deployment dep.
func (s *Store) databaseNames(ctx context.Context, dep string) ([]string, error) {
	if dep == s.deps.home && s.listDBs != nil {
		return s.listDBs(ctx)
	}
	return s.deps.clients[dep].ListDatabaseNames(ctx, bson.D{})
}

// listTenants records the tenant collections and per-organization databases
// of deployment dep.
func (s *Store) listTenants(ctx context.Context, sn *snapshot, dep string, shared []string) error {
	client := s.deps.clients[dep]
	dbs, err := s.databaseNames(ctx, dep)
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(dbs))
	for _, db := range dbs {
		exists[db] = true
		if !strings.HasPrefix(db, s.tenantDBPrefix()) || db == s.tenant.Name() || db == s.master.Name() {
			continue
		}
		sn.orgDBs[nsKey{dep: dep, db: db}] = true
		names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return err
		}
		for _, n := range names {
			sn.collections[nsKey{dep, db, n}] = true
		}
	}
	for _, db := range shared {
		// A spread database no organization has used yet does not exist: nothing to list.
		if sn.orgDBs[nsKey{dep: dep, db: db}] || !exists[db] {
			continue
		}
		names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return err
		}
		for _, n := range names {
			if strings.HasPrefix(n, orgd.CollectionPrefix) {
				sn.collections[nsKey{dep, db, n}] = true
			}
		}
	}
	return nil
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
	for _, dep := range s.deps.names {
		if why := sn.down[dep]; why != "" {
			add(Problem{Text: fmt.Sprintf("deployment %q could not be read (%s): its tenant data was not checked", dep, why)})
		}
	}

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
		p := s.placeOf(&d)
		if _, ok := s.deps.clients[p.Deployment]; !ok {
			add(Problem{Text: fmt.Sprintf("%s is placed on deployment %q, which the configuration does not list: its data cannot be reached", label, p.Deployment)})
		} else if sn.down[p.Deployment] == "" && !sn.collections[p.key()] {
			where := s.where(p.Deployment, p.Database, p.Collection)
			add(Problem{Text: fmt.Sprintf("%s: its collection %s is missing", label, where),
				Repair: func(ctx context.Context) (string, error) {
					if err := s.createCollection(ctx, p); err != nil {
						return "", err
					}
					return fmt.Sprintf("created an empty collection %s for %s (any data it had is gone)", where, label), nil
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
	claimed := map[nsKey]bool{} // collections, and per-organization databases (coll empty)
	claim := func(p place) {
		if p.Database == "" {
			return
		}
		claimed[p.key()] = true
		if p.Tenancy == tenancyDatabase {
			claimed[nsKey{dep: p.Deployment, db: p.Database}] = true
		}
	}
	for i := range sn.orgs {
		claim(s.placeOf(&sn.orgs[i]))
	}
	for i := range sn.ops {
		if sn.ops[i].OldDatabase != "" {
			claim(s.source(&sn.ops[i]))
		}
		claim(s.target(&sn.ops[i]))
	}
	for _, k := range sortedKeys(sn.orgDBs) {
		if !claimed[k] {
			probs = append(probs, s.orphanDatabase(ctx, k.dep, k.db))
		}
	}
	for _, k := range sortedKeys(sn.collections) {
		if !sn.orgDBs[nsKey{dep: k.dep, db: k.db}] && !claimed[k] {
			probs = append(probs, s.orphanCollection(ctx, k.dep, k.db, k.coll))
		}
	}
	return probs, nil
}

func sortedKeys(m map[nsKey]bool) []nsKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b nsKey) int {
		return strings.Compare(a.dep+"\x00"+a.db+"\x00"+a.coll, b.dep+"\x00"+b.db+"\x00"+b.coll)
	})
	return keys
}
