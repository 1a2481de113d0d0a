package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// mustHold fails the test when the store's invariant check finds anything.
func (e *env) mustHold() {
	e.t.Helper()
	probs, err := e.store.Check(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range probs {
		if !p.Leftover {
			e.t.Errorf("invariant broken: %s", p.Text)
		}
	}
}

// parallel runs fns at once and returns their statuses in order.
func parallel(fns ...func() int) []int {
	out := make([]int, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { out[i] = fn() })
	}
	wg.Wait()
	return out
}

func TestConcurrentCreatesOfDistinctNames(t *testing.T) {
	e := newEnv(t)
	fns := make([]func() int, 50)
	for i := range fns {
		fns[i] = func() int {
			return e.create(org{fmt.Sprintf("org-%02d", i), fmt.Sprintf("a%d@x.test", i), "correct horse"}).Status
		}
	}
	for i, s := range parallel(fns...) {
		if s != http.StatusCreated {
			t.Errorf("create %d: %d", i, s)
		}
	}
	if got := len(e.collections(e.db.TenantDB)); got != 50 {
		t.Errorf("%d tenant collections, want 50", got)
	}
	e.mustHold()
}

func TestConcurrentRenamesToOneName(t *testing.T) {
	e := newEnv(t)
	e.create(org{"alpha", "a@x.test", "correct horse"}).mustStatus(t, 201)
	e.create(org{"beta", "b@x.test", "correct horse"}).mustStatus(t, 201)
	ta, tb := e.login("a@x.test", "correct horse"), e.login("b@x.test", "correct horse")
	for round := range 5 {
		target := fmt.Sprintf("Target%d", round)
		got := parallel(
			func() int {
				return e.call("PUT", "/org/update", ta, map[string]string{"organization_name": target}).Status
			},
			func() int {
				return e.call("PUT", "/org/update", tb, map[string]string{"organization_name": target}).Status
			},
		)
		if !(got[0] == 200 && got[1] == 409 || got[0] == 409 && got[1] == 200) {
			t.Fatalf("round %d: statuses %v, want one 200 and one 409", round, got)
		}
		// The loser takes another name, so that both race again next round.
		loser := tb
		if got[1] == 200 {
			loser = ta
		}
		e.call("PUT", "/org/update", loser, map[string]string{"organization_name": fmt.Sprintf("Other%d", round)}).mustStatus(t, 200)
	}
	if got := len(e.collections(e.db.TenantDB)); got != 2 {
		t.Errorf("%d tenant collections, want 2", got)
	}
	e.mustHold()
}

func TestRenameRacingDelete(t *testing.T) {
	e := newEnv(t)
	for round := range 5 {
		name := fmt.Sprintf("victim%d", round)
		e.create(org{name, name + "@x.test", "correct horse"}).mustStatus(t, 201)
		coll := e.tenantColl("org_" + name)
		if _, err := coll.InsertOne(context.Background(), bson.M{"k": round}); err != nil {
			t.Fatal(err)
		}
		tok := e.login(name+"@x.test", "correct horse")
		got := parallel(
			func() int {
				return e.call("PUT", "/org/update", tok, map[string]string{"organization_name": name + "-new"}).Status
			},
			func() int { return e.call("DELETE", "/org/delete?organization_name="+name, tok, nil).Status },
		)
		renamed, deleted := got[0] == 200, got[1] == 204
		switch {
		case renamed && !deleted, !renamed && deleted:
		default:
			t.Fatalf("round %d: statuses %v: exactly one of rename and delete must win", round, got)
		}
		colls := e.collections(e.db.TenantDB)
		if renamed {
			if n := e.count(e.db.TenantDB, "org_"+name+"-new"); n != 1 {
				t.Errorf("round %d: the renamed organization holds %d documents, want 1 (%v)", round, n, colls)
			}
			e.call("DELETE", "/org/delete?organization_name="+name+"-new", tok, nil).mustStatus(t, 204)
		}
		if n := len(e.collections(e.db.TenantDB)); n != 0 {
			t.Errorf("round %d: collections left: %v", round, e.collections(e.db.TenantDB))
		}
		e.mustHold()
	}
}

func TestCreateRacingDelete(t *testing.T) {
	e := newEnv(t)
	for round := range 5 {
		e.create(org{"phoenix", "old@x.test", "correct horse"}).mustStatus(t, 201)
		if _, err := e.tenantColl("org_phoenix").InsertOne(context.Background(), bson.M{"secret": "old tenant's"}); err != nil {
			t.Fatal(err)
		}
		tok := e.login("old@x.test", "correct horse")
		got := parallel(
			func() int { return e.call("DELETE", "/org/delete?organization_name=phoenix", tok, nil).Status },
			func() int { return e.create(org{"Phoenix", "new@x.test", "correct horse"}).Status },
		)
		if got[0] != 204 || got[1] != 201 && got[1] != 409 {
			t.Fatalf("round %d: statuses %v", round, got)
		}
		if got[1] == 409 {
			e.create(org{"Phoenix", "new@x.test", "correct horse"}).mustStatus(t, 201)
		}
		// The new tenant never sees the old tenant's data.
		if n := e.count(e.db.TenantDB, "org_phoenix"); n != 0 {
			t.Fatalf("round %d: the new organization's collection holds %d documents of the old one", round, n)
		}
		e.mustHold()
		e.call("DELETE", "/org/delete?organization_name=phoenix", e.login("new@x.test", "correct horse"), nil).mustStatus(t, 204)
	}
}

// TestBusyOrganization checks that an organization whose operation was
// interrupted answers 409 until the reconciler has finished the operation.
func TestBusyOrganization(t *testing.T) {
	db := mongotest.New(t)
	e := newEnvOn(t, db, db.Client, 0) // another instance repairs it: no cache here to outlive that
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	e.store.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if step == "commit" {
			return mongodb.ErrAbort
		}
		return nil
	}})
	e.call("PUT", "/org/update", tok, map[string]string{"organization_name": "Renamed"}).isProblem(t, 503)
	e.store.SetHooks(mongodb.Hooks{})

	r := e.call("GET", "/org/get?organization_name=acme", "", nil)
	r.isProblem(t, 409)
	t.Logf("while busy: %s", r.JSON["detail"])
	e.call("GET", "/org/get?organization_name=renamed", "", nil).isProblem(t, 409) // the name being taken
	e.call("PUT", "/org/update", tok, map[string]string{"email": "x@acme.test"}).isProblem(t, 409)
	e.call("DELETE", "/org/delete?organization_name=acme", tok, nil).isProblem(t, 409)
	e.create(org{"renamed", "z@z.test", "correct horse"}).isProblem(t, 409)

	// Another instance, once the lease has run out, finishes the rename.
	later := mongodb.NewStore(e.db.Client, mongodb.Config{MasterDB: e.db.MasterDB, TenantDB: e.db.TenantDB,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	did, err := later.Reconcile(context.Background())
	if err != nil || len(did) != 1 {
		t.Fatalf("reconcile: %v, %v", did, err)
	}
	r = e.call("GET", "/org/get?organization_name=renamed", tok, nil).mustStatus(t, 200)
	if r.JSON["collection_name"] != "org_renamed" {
		t.Errorf("after recovery: %s", r.Raw)
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).isProblem(t, 404)
	e.mustHold()
}

// TestDeletingOrganization checks that once a delete has begun, the
// organization's tokens are refused even while it waits for the reconciler
// to finish (its data and audit log are no longer its admin's to read).
func TestDeletingOrganization(t *testing.T) {
	db := mongotest.New(t)
	e := newEnvOn(t, db, db.Client, 0)
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	e.store.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if step == "drop_collection" {
			return mongodb.ErrAbort
		}
		return nil
	}})
	e.call("DELETE", "/org/delete?organization_name=acme", tok, nil).isProblem(t, 503)
	e.store.SetHooks(mongodb.Hooks{})
	for _, path := range []string{"/org/get", "/org/audit", "/org/records"} {
		e.call("GET", path, tok, nil).isProblem(t, 401)
	}
	e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).isProblem(t, 401)

	later := mongodb.NewStore(e.db.Client, mongodb.Config{MasterDB: e.db.MasterDB, TenantDB: e.db.TenantDB,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if did, err := later.Reconcile(context.Background()); err != nil || len(did) != 1 {
		t.Fatalf("reconcile: %v, %v", did, err)
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).isProblem(t, 404)
	e.mustHold()
}
