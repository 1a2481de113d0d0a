package mongodb_test

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// TestCountByStatus counts organizations in each state, every known state
// present even when empty, and reads no organization to do it but those an
// operation holds: a scrape costs the same however many there are.
func TestCountByStatus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s, reads := f.watchedStore("organizations")
	count := func(what string, want map[string]int) {
		t.Helper()
		reads.take()
		got, err := s.CountByStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
		for _, r := range reads.take() {
			if !strings.Contains(r, `"$collStats"`) && !strings.HasPrefix(r, `find organizations {"_id": `) {
				t.Errorf("%s: the count read organizations with %s", what, r)
			}
		}
	}
	count("empty", map[string]int{"active": 0, "creating": 0, "updating": 0, "deleting": 0, "moving": 0})
	for _, n := range []string{"one", "two", "three", "four"} {
		if _, err := s.CreateOrganization(ctx, n, n+"@x.test", "h"); err != nil {
			t.Fatal(err)
		}
	}
	count("four created", map[string]int{"active": 4, "creating": 0, "updating": 0, "deleting": 0, "moving": 0})
	// Interrupted operations leave their organizations in their state.
	three, _ := s.OrganizationByName(ctx, "three")
	s.SetHooks(abortAt("drop_collection"))
	_ = s.DeleteOrganization(ctx, three.ID)
	four, _ := s.OrganizationByName(ctx, "four")
	s.SetHooks(abortAt("move_collection"))
	_, _ = s.UpdateOrganization(ctx, four.ID, orgd.OrganizationUpdate{Name: ptr("cuatro")})
	s.SetHooks(abortAt("create_collection"))
	_, _ = s.CreateOrganization(ctx, "five", "five@x.test", "h")
	s.SetHooks(mongodb.Hooks{})
	count("after interrupted operations", map[string]int{"active": 2, "creating": 1, "updating": 1, "deleting": 1, "moving": 0})
	// The reconciler finishes the delete and the rename and undoes the
	// create: what is left is active.
	f.restartLater()
	if _, err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	count("after the reconciler", map[string]int{"active": 3, "creating": 0, "updating": 0, "deleting": 0, "moving": 0})
}

// TestReconcilerReports checks that each reconciler round is reported, full
// sweeps and repairs included.
func TestReconcilerReports(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	o, err := s.CreateOrganization(ctx, "acme", "a@acme.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	s.SetHooks(abortAt("drop_collection"))
	_ = s.DeleteOrganization(ctx, o.ID) // abandoned halfway
	f.restartLater()

	type round struct {
		sweep    bool
		repaired int
	}
	var mu sync.Mutex
	var rounds []round
	two := make(chan struct{})
	r := mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB,
		Lease: lease, Grace: grace, Now: f.clock.Now, Reconciled: func(sweep bool, repaired int, err error) {
			if err != nil {
				t.Errorf("reconciler round: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			rounds = append(rounds, round{sweep, repaired})
			if len(rounds) == 2 {
				close(two)
			}
		}})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.RunReconciler(rctx, 10*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	select {
	case <-two:
	case <-time.After(30 * time.Second):
		t.Fatal("the reconciler reported fewer than two rounds in 30 s")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !rounds[0].sweep || rounds[0].repaired != 1 {
		t.Errorf("first round %+v, want a sweep that repaired the abandoned delete", rounds[0])
	}
	if rounds[1].sweep || rounds[1].repaired != 0 {
		t.Errorf("second round %+v, want a journal-only round with nothing to repair", rounds[1])
	}
}

// TestCommandMonitor checks that a monitor given to ConnectWith sees the
// store's commands, failed ones included.
func TestCommandMonitor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	ok, failed := map[string]int{}, map[string]int{}
	client, err := mongodb.ConnectWith(ctx, f.db.URI, 5*time.Second, &event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			mu.Lock()
			defer mu.Unlock()
			ok[e.CommandName]++
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			mu.Lock()
			defer mu.Unlock()
			failed[e.CommandName]++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	s := mongodb.NewStore(client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB})
	if _, err := s.CreateOrganization(ctx, "acme", "a@acme.test", "h"); err != nil {
		t.Fatal(err)
	}
	err = client.Database(f.db.MasterDB).RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err()
	if err == nil {
		t.Fatal("an unknown command succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if ok["insert"] == 0 || ok["create"] == 0 {
		t.Errorf("succeeded commands %v lack insert or create", ok)
	}
	if failed["noSuchCommand"] != 1 {
		t.Errorf("failed commands %v, want noSuchCommand once", failed)
	}
}
