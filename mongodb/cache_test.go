package mongodb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestCacheStaleness checks the cache's promise: this instance's own writes
// are seen at once, another instance's at the next sync, and when syncing
// stops the cache is bypassed.
func TestCacheStaleness(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cached := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Second, Now: f.clock.Now})
	other := f.store("")
	o, err := cached.CreateOrganization(ctx, "acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cached.OrganizationByName(ctx, "acme"); err != nil { // now cached
		t.Fatal(err)
	}
	// Another instance renames it: this one may answer the old name until it syncs.
	if _, err := other.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.OrganizationByName(ctx, "acme"); err != nil {
		t.Errorf("before a sync the cached answer is expected: %v", err)
	}
	if err := cached.SyncCache(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.OrganizationByName(ctx, "acme"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("after a sync the old name still answers: %v", err)
	}
	// When syncing stops, the cache is bypassed after three intervals.
	if _, err := cached.OrganizationByName(ctx, "wile"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("roadrunner")}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Second)
	if _, err := cached.OrganizationByName(ctx, "wile"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("with syncing stopped, the cache still answers: %v", err)
	}
	if err := cached.SyncCache(ctx); err != nil {
		t.Fatal(err)
	}
	// Its own writes are seen at once.
	if _, err := cached.OrganizationByName(ctx, "roadrunner"); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.AdminByEmail(ctx, "a@x.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("coyote"), Email: ptr("c@x.test")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.OrganizationByName(ctx, "roadrunner"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("own rename not seen: %v", err)
	}
	if _, err := cached.AdminByEmail(ctx, "a@x.test"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("own email change not seen: %v", err)
	}
	if err := cached.DeleteOrganization(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.OrganizationByID(ctx, o.ID); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("own delete not seen: %v", err)
	}
	hits, misses := cached.CacheStats()
	if hits == 0 || misses == 0 {
		t.Errorf("cache stats: %d hits, %d misses", hits, misses)
	}
}

// TestCacheSeesLateChanges renames an organization on an instance whose
// clock is 20 s behind this one's, after this one synced: its change is
// dated before that sync, and the next sync must still see it. Changes read
// again by later syncs do not make the cache forget again.
func TestCacheSeesLateChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cfg := mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Second, Now: f.clock.Now}
	cached := mongodb.NewStore(f.db.Client, cfg)
	cfg.Now = func() time.Time { return f.clock.Now().Add(-20 * time.Second) }
	behind := mongodb.NewStore(f.db.Client, cfg)
	o := mustCreate(t, cached, "acme", "a@acme.test")
	sync := func(after time.Duration) {
		t.Helper()
		f.clock.Advance(after)
		if err := cached.SyncCache(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Past the create's own change, then cached.
	sync(10 * time.Second)
	if _, err := cached.OrganizationByName(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := behind.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")}); err != nil {
		t.Fatal(err)
	}
	sync(time.Second)
	if _, err := cached.OrganizationByName(ctx, "acme"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("after a sync, the name changed elsewhere still answers: %v", err)
	}
	if _, err := cached.OrganizationByName(ctx, "wile"); err != nil {
		t.Fatal(err)
	}
	_, misses := cached.CacheStats()
	sync(time.Second)
	if _, err := cached.OrganizationByName(ctx, "wile"); err != nil {
		t.Fatal(err)
	}
	if _, after := cached.CacheStats(); after != misses {
		t.Errorf("a change read again made the cache forget again: %d more misses", after-misses)
	}
}

// TestCacheIsBounded reads more organizations than the cache may hold.
func TestCacheIsBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Hour, CacheSize: 100, Now: f.clock.Now})
	for i := range 300 {
		if _, err := s.OrganizationByID(ctx, fmt.Sprintf("missing-%d", i)); orgd.ErrorCode(err) != orgd.ENOTFOUND {
			t.Fatal(err)
		}
	}
	if n := s.CacheLen(); n > 100 {
		t.Errorf("the cache holds %d entries, bound 100", n)
	}
}

// TestMissingNamesDoNotCrowdTheCache looks up, in a cache bound to 100
// entries, many names no organization has (anyone may ask for them) and one
// no organization can have: the organizations looked up before are still
// answered from the cache, and the impossible name is not kept.
func TestMissingNamesDoNotCrowdTheCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Hour, CacheSize: 100, Now: f.clock.Now})
	var names []string
	for i := range 10 {
		name := fmt.Sprintf("known%d", i)
		if _, err := s.CreateOrganization(ctx, name, name+"@x.test", "h"); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	lookAll := func() {
		t.Helper()
		for _, n := range names {
			if _, err := s.OrganizationByName(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	lookAll() // now cached
	for i := range 300 {
		if _, err := s.OrganizationByName(ctx, fmt.Sprintf("missing%d", i)); orgd.ErrorCode(err) != orgd.ENOTFOUND {
			t.Fatal(err)
		}
	}
	before := s.CacheLen()
	if _, err := s.OrganizationByName(ctx, strings.Repeat("a", 100_000)); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("a name no organization can have: %v, want not found", err)
	}
	if n := s.CacheLen(); n != before {
		t.Errorf("the cache went from %d to %d entries for a name no organization can have", before, n)
	}
	_, misses := s.CacheStats()
	lookAll()
	if _, after := s.CacheStats(); after != misses {
		t.Errorf("%d lookups of known organizations missed the cache after lookups of missing names", after-misses)
	}
}

// TestRevocationReachesOtherInstances checks the revocation delay: at once on
// the instance that revoked, at the next sync on the others.
func TestRevocationReachesOtherInstances(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cfg := mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Second, Now: f.clock.Now}
	a, b := mongodb.NewStore(f.db.Client, cfg), mongodb.NewStore(f.db.Client, cfg)
	for _, s := range []*mongodb.Store{a, b} {
		if revoked, err := s.SessionRevoked(ctx, "sid-1"); err != nil || revoked {
			t.Fatalf("before: %v, %v", revoked, err)
		}
	}
	if err := a.RevokeSession(ctx, "sid-1", "logout"); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := a.SessionRevoked(ctx, "sid-1"); !revoked {
		t.Error("the revoking instance does not see its own revocation")
	}
	if err := b.SyncCache(ctx); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := b.SessionRevoked(ctx, "sid-1"); !revoked {
		t.Error("another instance does not see the revocation after its sync")
	}
}

// TestWarmCache checks that after reading the master collections whole, the
// lookups a request makes are answered without the database, revocations
// included, and that a reload drops a document removed without a published
// change (its writer crashed in between).
func TestWarmCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.store("")
	var orgs []*orgd.Organization
	for _, name := range []string{"acme", "globex", "initech"} {
		o, err := other.CreateOrganization(ctx, name, name+"@x.test", "h")
		if err != nil {
			t.Fatal(err)
		}
		orgs = append(orgs, o)
	}
	sess, err := other.CreateSession(ctx, orgs[0].ID, orgs[0].AdminID, f.clock.Now().Add(time.Hour), "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RevokeSession(ctx, sess.ID, "logout"); err != nil {
		t.Fatal(err)
	}

	cached := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Second, Now: f.clock.Now})
	if n, err := cached.WarmCache(ctx); err != nil || n < 3*4+1 {
		t.Fatalf("WarmCache: %d entries, %v", n, err)
	}
	for _, o := range orgs {
		if _, err := cached.OrganizationByName(ctx, o.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := cached.AdminByEmail(ctx, o.Name+"@x.test"); err != nil {
			t.Fatal(err)
		}
	}
	if revoked, err := cached.SessionRevoked(ctx, sess.ID); err != nil || !revoked {
		t.Errorf("a loaded revocation: %v, %v", revoked, err)
	}
	if revoked, err := cached.SessionRevoked(ctx, "never-revoked"); err != nil || revoked {
		t.Errorf("a session never revoked: %v, %v", revoked, err)
	}
	if hits, misses := cached.CacheStats(); misses != 0 || hits == 0 {
		t.Errorf("after warming, %d lookups went to the database (%d hits)", misses, hits)
	}

	// Another instance's revocation is seen at the next sync, still without a lookup.
	sess2, err := other.CreateSession(ctx, orgs[1].ID, orgs[1].AdminID, f.clock.Now().Add(time.Hour), "hash-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RevokeSession(ctx, sess2.ID, "logout"); err != nil {
		t.Fatal(err)
	}
	if err := cached.SyncCache(ctx); err != nil {
		t.Fatal(err)
	}
	if revoked, err := cached.SessionRevoked(ctx, sess2.ID); err != nil || !revoked {
		t.Errorf("another instance's revocation after a sync: %v, %v", revoked, err)
	}
	if _, misses := cached.CacheStats(); misses != 0 {
		t.Errorf("%d lookups went to the database", misses)
	}

	// A document removed with no change published lingers until the next reload.
	if _, err := f.db.Client.Database(f.db.MasterDB).Collection("organizations").DeleteOne(ctx, bson.D{{Key: "_id", Value: orgs[2].ID}}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if err := cached.SyncCache(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.ReloadCache(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cached.OrganizationByID(ctx, orgs[2].ID); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("after a reload, a removed organization still answers: %v", err)
	}
	if o, err := cached.OrganizationByID(ctx, orgs[1].ID); err != nil || o.Name != orgs[1].Name {
		t.Errorf("after a reload: %+v, %v", o, err)
	}

	// A reload keeps what it read before only when the document is unchanged.
	if o, err := cached.OrganizationByID(ctx, orgs[0].ID); err != nil || o.Status != orgd.StatusActive {
		t.Fatalf("after a reload: %+v, %v", o, err)
	}
	if _, err := f.db.Client.Database(f.db.MasterDB).Collection("organizations").UpdateOne(ctx, bson.D{{Key: "_id", Value: orgs[0].ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "deleting"}}}}); err != nil {
		t.Fatal(err)
	}
	if o, err := cached.OrganizationByID(ctx, orgs[0].ID); err != nil || o.Status != orgd.StatusActive {
		t.Errorf("an organization changed with no change published, before a reload: %+v, %v", o, err)
	}
	if _, err := cached.ReloadCache(ctx); err != nil {
		t.Fatal(err)
	}
	if o, err := cached.OrganizationByID(ctx, orgs[0].ID); err != nil || o.Status != orgd.StatusDeleting {
		t.Errorf("an organization changed with no change published, after a reload: %+v, %v", o, err)
	}
}

// TestReloadReadsEveryBatch checks that a reload, which reads in small
// batches, reads every document of a collection several batches long:
// revocations written by another instance whose changes this one never saw
// are all known after it, and a session never revoked is still known not to
// be, all without a lookup.
func TestReloadReadsEveryBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cached := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Hour, Now: f.clock.Now})
	if _, err := cached.WarmCache(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var docs []any
	for i := range 250 {
		ids = append(ids, fmt.Sprintf("sid-%03d", i))
		docs = append(docs, bson.D{{Key: "_id", Value: ids[i]}, {Key: "reason", Value: "logout"},
			{Key: "revoked_at", Value: f.clock.Now()}, {Key: "expires_at", Value: f.clock.Now().Add(time.Hour)}})
	}
	if _, err := f.db.Client.Database(f.db.MasterDB).Collection("revoked_sessions").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if n, err := cached.ReloadCache(ctx); err != nil || n < len(docs) {
		t.Fatalf("ReloadCache: %d entries, %v", n, err)
	}
	_, before := cached.CacheStats()
	for _, id := range ids {
		if revoked, err := cached.SessionRevoked(ctx, id); err != nil || !revoked {
			t.Errorf("session %s, revoked before the reload: %v, %v", id, revoked, err)
		}
	}
	if revoked, err := cached.SessionRevoked(ctx, "never-revoked"); err != nil || revoked {
		t.Errorf("a session never revoked: %v, %v", revoked, err)
	}
	if _, misses := cached.CacheStats(); misses != before {
		t.Errorf("%d lookups went to the database", misses-before)
	}
}

// TestRevocationSurvivesAFullCache fills the cache far past its bound with
// lookups of names that do not exist, as an anonymous client can. Once the
// revocations are read whole the cache answers "not revoked" for any session
// it lacks, so none may be dropped to make room, nor left out of a reload.
func TestRevocationSurvivesAFullCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.store("")
	o, err := other.CreateOrganization(ctx, "acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	cached := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, CacheSync: time.Hour, CacheSize: 100, Now: f.clock.Now})
	var revoked []string
	revoke := func(s *mongodb.Store) {
		sess, err := s.CreateSession(ctx, o.ID, o.AdminID, f.clock.Now().Add(time.Hour), fmt.Sprintf("hash-%d", len(revoked)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeSession(ctx, sess.ID, "logout"); err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, sess.ID)
	}
	for range 3 {
		revoke(other)
	}
	if _, err := cached.WarmCache(ctx); err != nil {
		t.Fatal(err)
	}
	revoke(cached) // known from its own write, not from the load
	fill := func(round int) {
		for i := range 500 {
			if _, err := cached.OrganizationByName(ctx, fmt.Sprintf("missing-%d-%d", round, i)); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Fatal(err)
			}
		}
		if n := cached.CacheLen(); n > 100 {
			t.Errorf("the cache holds %d entries, bound 100", n)
		}
	}
	check := func(when string) {
		for _, id := range revoked {
			if r, err := cached.SessionRevoked(ctx, id); err != nil || !r {
				t.Errorf("%s, revoked session %s passes: %v, %v", when, id, r, err)
			}
		}
	}
	fill(0)
	check("with the cache full")
	if _, err := cached.ReloadCache(ctx); err != nil { // a reload, with the cache full
		t.Fatal(err)
	}
	fill(1)
	check("after a reload of a full cache")
}
