package mongodb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
)

// twoInstances returns a fixture with two stores on one database, each with
// a cache synced only by hand, an organization created through the first,
// and look, which syncs the second's cache and reads the organization there.
func twoInstances(t *testing.T) (*fixture, *mongodb.Store, *orgd.Organization, func() *orgd.Organization) {
	f := newFixture(t)
	f.cache = time.Hour
	ctx := context.Background()
	s, other := f.store(""), f.store("")
	o, err := s.CreateOrganization(ctx, "Acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	look := func() *orgd.Organization {
		t.Helper()
		if err := other.SyncCache(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := other.OrganizationByID(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	return f, s, o, look
}

// TestUndoneMoveTellsOtherInstances checks that when a move fails after its
// pause and is undone, but its copy cannot be dropped yet, the other
// instances learn at once that the organization is writable again, not when
// their cached "moving" ages out minutes later.
func TestUndoneMoveTellsOtherInstances(t *testing.T) {
	f, s, o, look := twoInstances(t)
	ctx := context.Background()
	s.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		switch step {
		case "switch": // paused: the other instance learns it, then the move fails
			// Past the window each sync reads again, so that only changes
			// published from now on reach the other instance's next sync.
			f.clock.Advance(10 * time.Second)
			if got := look(); got.Status != orgd.StatusMoving {
				t.Errorf("during the pause the other instance sees %s", got.Status)
			}
			return errors.New("injected failure")
		case "undo_drop_copy": // the copy's deployment is away
			return mongodb.ErrAbort
		}
		return nil
	}})
	if err := s.Move(ctx, o.ID, orgd.Placement{Tenancy: orgd.TenancyDatabase}); err == nil {
		t.Fatal("the move succeeded despite the failure")
	}
	if got := look(); got.Status != orgd.StatusActive {
		t.Errorf("after the undo the other instance sees %s, want active", got.Status)
	}
}

// TestResumedSwitchTellsOtherInstances checks that a move whose process
// died between switching the record and publishing the switch, resumed by
// another, publishes it before dropping the source: otherwise the other
// instances would go on reading, from their caches, a source that is gone.
func TestResumedSwitchTellsOtherInstances(t *testing.T) {
	f, s, o, look := twoInstances(t)
	ctx := context.Background()
	s.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		switch step {
		case "switch": // paused: the other instance learns it
			f.clock.Advance(10 * time.Second) // past the window each sync reads again
			if got := look(); got.Status != orgd.StatusMoving {
				t.Errorf("during the pause the other instance sees %s", got.Status)
			}
		case "publish_switch": // switched, not yet published: the process dies
			return mongodb.ErrAbort
		}
		return nil
	}})
	if err := s.Move(ctx, o.ID, orgd.Placement{Tenancy: orgd.TenancyDatabase}); !errors.Is(err, mongodb.ErrAbort) {
		t.Fatalf("move: %v", err)
	}
	f.restartLater()
	later := f.store("")
	checked := false
	later.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if step == "drop_source" {
			checked = true
			if got := look(); got.Status != orgd.StatusActive || got.Database == o.Database {
				t.Errorf("before the source is dropped the other instance sees %s in %s", got.Status, got.Database)
			}
		}
		return nil
	}})
	if _, err := later.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the resumed move never dropped its source")
	}
}
