package mongodb_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// TestRev8LeftoverAgeSurvivesACutShortSweep: a sweep cut short (its context
// ends while it repairs) must not forget how long the leftovers it did not
// reach have been empty.
func TestRev8LeftoverAgeSurvivesACutShortSweep(t *testing.T) {
	f := newFixture(t)
	f.tenancy = "database"
	ctx := context.Background()
	var cancel context.CancelFunc
	client, err := mongodb.ConnectWith(ctx, f.db.URI, 5*time.Second, &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "dropDatabase" && cancel != nil {
				cancel()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s := f.storeOn(client, "")
	ghosts := []string{f.db.Prefix + "org_ghost1", f.db.Prefix + "org_ghost2"}
	for _, g := range ghosts {
		if err := f.db.Client.Database(g).CreateCollection(ctx, "org_x"); err != nil {
			t.Fatal(err)
		}
	}
	left := func() (n int) {
		dbs, err := f.db.Client.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range ghosts {
			if slices.Contains(dbs, g) {
				n++
			}
		}
		return n
	}
	if _, err := s.Reconcile(ctx); err != nil { // found empty: the clock starts
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Minute)
	cctx, c := context.WithCancel(ctx)
	cancel = c
	_, _ = s.Reconcile(cctx) // cut short at its first drop
	cancel = nil
	t.Logf("after the cut-short sweep: %d of 2 left", left())
	f.clock.Advance(time.Minute)
	if _, err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := left(); n != 0 {
		t.Errorf("%d leftover databases empty for four minutes are still there: a sweep cut short forgot when it first found them", n)
	}
}
