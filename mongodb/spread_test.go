package mongodb_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSpreadTenantDBs checks the collection model spread over several
// databases: organizations land in all of them, a rename stays in its
// database (a metadata change, not a copy), the invariant check covers every
// one of them, and changing the spread only places new organizations.
func TestSpreadTenantDBs(t *testing.T) {
	f := newFixture(t)
	f.spread = 4
	s := f.store("")
	ctx := context.Background()
	dbs := map[string]int{}
	var orgs []*orgd.Organization
	for i := range 12 {
		o, err := s.CreateOrganization(ctx, fmt.Sprintf("spread%d", i), fmt.Sprintf("s%d@x.test", i), "h")
		if err != nil {
			t.Fatal(err)
		}
		dbs[o.Database]++
		orgs = append(orgs, o)
	}
	for db := range dbs {
		if ok := db == f.db.TenantDB+"_00" || db == f.db.TenantDB+"_01" || db == f.db.TenantDB+"_02" || db == f.db.TenantDB+"_03"; !ok {
			t.Errorf("an organization in database %q", db)
		}
	}
	if len(dbs) < 2 {
		t.Errorf("12 organizations all in %v", dbs)
	}
	f.insertDocs(orgs[0], 50)
	renamed, err := s.UpdateOrganization(ctx, orgs[0].ID, orgd.OrganizationUpdate{Name: ptr("spread-renamed")})
	if err != nil {
		t.Fatal(err)
	}
	if renamed.Database != orgs[0].Database || renamed.Collection != "org_spread-renamed" {
		t.Errorf("renamed to %s.%s, from %s.%s", renamed.Database, renamed.Collection, orgs[0].Database, orgs[0].Collection)
	}
	if n, _ := f.docs(renamed.Database, renamed.Collection); n != 50 {
		t.Errorf("after the rename %d documents, want 50", n)
	}
	f.mustHold(s)

	// A collection no organization claims, in a database no organization uses.
	var empty string
	for i := range 4 {
		if db := fmt.Sprintf("%s_%02d", f.db.TenantDB, i); dbs[db] == 0 {
			empty = db
		}
	}
	if empty == "" {
		empty = f.db.TenantDB + "_00"
	}
	if err := f.db.Client.Database(empty).CreateCollection(ctx, "org_ghost"); err != nil {
		t.Fatal(err)
	}
	probs, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 {
		t.Errorf("check with an orphan in %s: %d problems, want 1: %v", empty, len(probs), probs)
	}
	if err := f.db.Client.Database(empty).Collection("org_ghost").Drop(ctx); err != nil {
		t.Fatal(err)
	}

	// With the spread changed, existing organizations stay where they are.
	f.spread = 1
	one := f.store("")
	again, err := one.UpdateOrganization(ctx, orgs[1].ID, orgd.OrganizationUpdate{Name: ptr("spread-again")})
	if err != nil {
		t.Fatal(err)
	}
	if again.Database != orgs[1].Database {
		t.Errorf("after the spread changed, a rename moved %s to %s", orgs[1].Database, again.Database)
	}
	fresh, err := one.CreateOrganization(ctx, "unspread", "u@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Database != f.db.TenantDB {
		t.Errorf("with one tenant database, a new organization went to %s", fresh.Database)
	}
	for _, o := range append(orgs[2:], fresh) {
		if err := one.DeleteOrganization(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
	}
	f.mustHold(one)
	if n, err := f.db.Client.Database(orgs[2].Database).Collection(orgs[2].Collection).CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Errorf("a deleted organization's collection holds %d documents (%v)", n, err)
	}
}
