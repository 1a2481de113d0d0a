package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
)

// TestConcurrentReconcilers abandons operations of every kind, then lets
// several instances reconcile at once: each operation is taken over by
// exactly one of them, and the end state is consistent.
func TestConcurrentReconcilers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	var ids []string
	for i := range 6 {
		o, err := s.CreateOrganization(ctx, fmt.Sprintf("org%d", i), fmt.Sprintf("a%d@x.test", i), "h")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ID)
	}
	s.SetHooks(abortAt("move_collection"))
	_, _ = s.UpdateOrganization(ctx, ids[0], orgd.OrganizationUpdate{Name: ptr("renamed0")})
	_, _ = s.UpdateOrganization(ctx, ids[1], orgd.OrganizationUpdate{Name: ptr("renamed1"), Email: ptr("b1@x.test")})
	s.SetHooks(abortAt("delete_admin"))
	_ = s.DeleteOrganization(ctx, ids[2])
	_ = s.DeleteOrganization(ctx, ids[3])
	s.SetHooks(abortAt("create_collection"))
	_, _ = s.CreateOrganization(ctx, "newco", "n@x.test", "h")

	f.restartLater()
	var mu sync.Mutex
	var did []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := f.store("").Reconcile(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			did = append(did, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(did) != 5 {
		t.Errorf("%d repairs, want 5 (one per abandoned operation):\n%s", len(did), strings.Join(did, "\n"))
	}
	s = f.store("")
	f.mustHold(s)
	for name, want := range map[string]bool{"renamed0": true, "renamed1": true, "org2": false, "org3": false, "newco": false, "org4": true} {
		_, err := s.OrganizationByName(ctx, name)
		if got := err == nil; got != want {
			t.Errorf("organization %s exists = %v, want %v (%v)", name, got, want, err)
		}
	}
}

// TestTakeoverOfADeadTakeover checks that an instance that died between
// taking an operation over and recording it does not block the operation
// forever.
func TestTakeoverOfADeadTakeover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	o, err := s.CreateOrganization(ctx, "acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	s.SetHooks(abortAt("commit"))
	_, _ = s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")})
	var op struct {
		ID string `bson:"op_id"`
	}
	if err := f.db.Client.Database(f.db.MasterDB).Collection("operations").FindOne(ctx, map[string]any{"_id": o.ID}).Decode(&op); err != nil {
		t.Fatal(err)
	}
	// The marker of epoch 1 exists, but its instance died before recording epoch 1.
	f.restartLater()
	if _, err := f.db.Client.Database(f.db.MasterDB).Collection("takeovers").InsertOne(ctx, map[string]any{"_id": op.ID + "/1", "at": f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if did, err := f.store("").Reconcile(ctx); err != nil || len(did) != 0 {
		t.Fatalf("a fresh marker must be respected: %v, %v", did, err)
	}
	f.restartLater()
	if did, err := f.store("").Reconcile(ctx); err != nil || len(did) != 1 {
		t.Fatalf("a stale marker must be passed over: %v, %v", did, err)
	}
	f.mustHold(f.store(""))
	if _, err := f.store("").OrganizationByName(ctx, "wile"); err != nil {
		t.Errorf("the rename was not finished: %v", err)
	}
}

// TestAFailingRepairHoldsNoneBack checks that an abandoned operation whose
// repair fails does not keep the reconciler from the others.
func TestAFailingRepairHoldsNoneBack(t *testing.T) {
	for _, reconcile := range []string{"Resume", "Reconcile"} {
		t.Run(reconcile, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			s := f.store("")
			s.SetHooks(abortAt("delete_admin"))
			for i := range 2 {
				o, err := s.CreateOrganization(ctx, fmt.Sprintf("org%d", i), fmt.Sprintf("a%d@x.test", i), "h")
				if err != nil {
					t.Fatal(err)
				}
				_ = s.DeleteOrganization(ctx, o.ID)
			}
			f.restartLater()

			s = f.store("")
			failed := false
			broken := errors.New("the database is having a bad moment")
			s.SetHooks(mongodb.Hooks{BeforeStep: func(_, _ string) error {
				if !failed {
					failed = true
					return broken
				}
				return nil
			}})
			run := s.Resume
			if reconcile == "Reconcile" {
				run = s.Reconcile
			}
			did, err := run(ctx)
			if !errors.Is(err, broken) {
				t.Errorf("error = %v, want the failed repair's", err)
			}
			if len(did) != 1 {
				t.Errorf("%d repairs, want 1 (the operation after the failing one): %q", len(did), did)
			}

			// The failed one is finished once its new lease lapses.
			f.restartLater()
			s = f.store("")
			if _, err := s.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			f.mustHold(s)
			for i := range 2 {
				if _, err := s.OrganizationByName(ctx, fmt.Sprintf("org%d", i)); orgd.ErrorCode(err) != orgd.ENOTFOUND {
					t.Errorf("org%d: %v, want it deleted", i, err)
				}
			}
		})
	}
}
