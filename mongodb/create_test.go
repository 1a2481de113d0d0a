package mongodb_test

import (
	"cmp"
	"context"
	"errors"
	"testing"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestCreateKeepsDataOfUnknownOrigin plants documents where a new
// organization's data would go, claimed by no organization: creating that
// organization fails with a conflict, and neither the failed create nor the
// reconciler after it drops them, in either tenancy model.
func TestCreateKeepsDataOfUnknownOrigin(t *testing.T) {
	for _, tenancy := range []string{"", "database"} {
		t.Run(cmp.Or(tenancy, "collection"), func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = tenancy
			ctx := context.Background()
			db := f.db.TenantDB
			if tenancy == "database" {
				db = f.db.Prefix + "org_ghost"
			}
			planted := f.db.Client.Database(db).Collection("org_ghost")
			if _, err := planted.InsertMany(ctx, []any{bson.D{{Key: "n", Value: 1}}, bson.D{{Key: "n", Value: 2}}}); err != nil {
				t.Fatal(err)
			}
			s := f.store("")
			if _, err := s.CreateOrganization(ctx, "Ghost", "g@x.test", "h"); orgd.ErrorCode(err) != orgd.ECONFLICT {
				t.Fatalf("create over planted data: %v, want a conflict", err)
			}
			if n, sum := f.docs(db, "org_ghost"); n != 2 || sum != 3 {
				t.Fatalf("after the failed create %s.org_ghost holds %d documents (sum %d), want 2 (sum 3)", db, n, sum)
			}
			if _, err := s.OrganizationByName(ctx, "ghost"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("the failed create left an organization: %v", err)
			}
			f.restartLater()
			if _, err := f.store("").Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if n, _ := f.docs(db, "org_ghost"); n != 2 {
				t.Errorf("after the reconciler %s.org_ghost holds %d documents, want 2", db, n)
			}
		})
	}
}

// TestDeleteByAStaleName checks that a delete of an organization by a name
// it lost to a rename since the caller looked it up deletes nothing: the
// rename came first, so the name no longer exists.
func TestDeleteByAStaleName(t *testing.T) {
	f := newFixture(t)
	s := f.store("")
	ctx := context.Background()
	o := mustCreate(t, s, "acme", "a@acme.test")
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOrganizationNamed(ctx, o.ID, "acme"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Fatalf("delete by the old name: %v, want not found", err)
	}
	if got, err := s.OrganizationByName(ctx, "wile"); err != nil || got.ID != o.ID || got.Status != "active" {
		t.Fatalf("after it: %+v, %v", got, err)
	}
	if err := s.DeleteOrganizationNamed(ctx, o.ID, "WILE"); err != nil {
		t.Fatalf("delete by its name: %v", err)
	}
	f.mustHold(s)
}

// TestCreateStoppedOnceInUse stops a create after its organization came
// into use, and its admin wrote a record: the reconciler finishes the create
// rather than undoing it, and the record stays. A create that fails there is
// a success, with the journal entry left to the reconciler.
func TestCreateStoppedOnceInUse(t *testing.T) {
	for name, stop := range map[string]error{"killed": mongodb.ErrAbort, "failed": errors.New("the database went away")} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			s := f.store("")
			var org *orgd.Organization
			s.SetHooks(mongodb.Hooks{BeforeStep: func(kind, step string) error {
				if step != "activated" {
					return nil
				}
				// In use already: its admin logs in and writes a record.
				o, err := f.store("").OrganizationByName(ctx, "newco")
				if err != nil {
					t.Errorf("the organization before its create returned: %v", err)
					return stop
				}
				if _, _, err := f.store("").CreateRecord(ctx, o, []byte(`{"n":1}`)); err != nil {
					t.Errorf("a record written before the create returned: %v", err)
				}
				org = o
				return stop
			}})
			_, err := s.CreateOrganization(ctx, "NewCo", "new@co.test", "h")
			if errors.Is(stop, mongodb.ErrAbort) != (err != nil) {
				t.Errorf("create stopped by %v once in use: %v", stop, err)
			}
			f.restartLater()
			if _, err := f.store("").Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if org == nil {
				t.Fatal("the create never came to its activated step")
			}
			if _, err := f.store("").OrganizationByName(ctx, "newco"); err != nil {
				t.Errorf("after the reconciler: %v", err)
			}
			if n, _ := f.docs(org.Database, org.Collection); n != 1 {
				t.Errorf("%s.%s holds %d records after the reconciler, want the 1 written", org.Database, org.Collection, n)
			}
		})
	}
}

// TestCreateActivationUnanswered loses the answer to the write that marks a
// new organization active, after the write landed: the create reports the
// failure but does not undo itself, since its admin may be using the
// organization already; the reconciler, reading the record, finishes it.
func TestCreateActivationUnanswered(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	s.SetHooks(mongodb.Hooks{AfterWrite: func(kind, step string) error {
		if kind == "create" && step == "activate" {
			return errors.New("connection reset")
		}
		return nil
	}})
	if _, err := s.CreateOrganization(ctx, "NewCo", "new@co.test", "h"); err == nil {
		t.Fatal("the create succeeded without the answer to its activation")
	}
	o, err := f.store("").OrganizationByName(ctx, "newco")
	if err != nil || o.Status != "active" {
		t.Fatalf("the organization after its create failed: %+v, %v; want it active", o, err)
	}
	if _, _, err := f.store("").CreateRecord(ctx, o, []byte(`{"n":1}`)); err != nil {
		t.Fatalf("a record written meanwhile: %v", err)
	}
	f.restartLater()
	if _, err := f.store("").Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store("").OrganizationByName(ctx, "newco"); err != nil {
		t.Errorf("after the reconciler: %v", err)
	}
	if n, _ := f.docs(o.Database, o.Collection); n != 1 {
		t.Errorf("%s.%s holds %d records after the reconciler, want the 1 written", o.Database, o.Collection, n)
	}
	f.mustHold(f.store(""))
}
