package mongodb_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/event"
)

// TestCreateDuringALongRename races a create with one rename that holds the
// organization busy for most of settleWait: the create's settle waits for
// it, sees it end before its deadline, and makes the write again where the
// data went (a redo that takes a moment). The record is in, in the
// organization's place: the create must be answered as created (a 409 has
// the client create it twice). A rename that outlasts settleWait gets a 409
// that says the record may have been stored.
func TestCreateDuringALongRename(t *testing.T) {
	for _, c := range []struct {
		name        string
		stall       time.Duration // how long the rename holds the organization busy
		slowRedo    time.Duration // how long the redo's insert takes
		mayBeStored bool          // answered 409 saying the record may have been stored
	}{
		{"redone before the deadline", 17500 * time.Millisecond, 3 * time.Second, false},
		{"still busy at the deadline", 21 * time.Second, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each waits out most of settleWait
			createDuringALongRename(t, c.stall, c.slowRedo, c.mayBeStored)
		})
	}
}

func createDuringALongRename(t *testing.T, stall, slowRedo time.Duration, mayBeStored bool) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.store("")
	o := mustCreate(t, s, "Acme", "a@x.test")

	renamer := f.store("")
	stalled := make(chan struct{})
	renamer.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if op == "update" && step == "move_collection" {
			close(stalled)
			time.Sleep(stall) // the organization is "updating" meanwhile
		}
		return nil
	}})
	var mu sync.Mutex
	inserts := 0
	renamed := make(chan error, 1)
	client, err := mongodb.ConnectWith(ctx, f.db.URI, 5*time.Second, &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
			if e.CommandName != "insert" || !strings.HasPrefix(coll, orgd.CollectionPrefix) {
				return
			}
			mu.Lock()
			inserts++
			n := inserts
			mu.Unlock()
			if n == 2 { // the redo, where the data went: it may take a moment
				time.Sleep(slowRedo)
			}
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			mu.Lock()
			n := inserts
			mu.Unlock()
			if e.CommandName != "insert" || n != 1 {
				return
			}
			mu.Lock()
			inserts = 100 // fire once
			mu.Unlock()
			go func() {
				name := "Roadrunner"
				_, err := renamer.UpdateOrganization(context.Background(), o.ID, orgd.OrganizationUpdate{Name: &name})
				renamed <- err
			}()
			<-stalled
			mu.Lock()
			inserts = 1
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	other := f.storeOn(client, "")

	start := time.Now()
	id, _, err := other.CreateRecord(ctx, o, []byte(`{"c":1}`))
	t.Logf("create answered after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if rerr := <-renamed; rerr != nil {
		t.Fatal(rerr)
	}
	now, gerr := s.OrganizationByName(ctx, "roadrunner")
	if gerr != nil {
		t.Fatal(gerr)
	}
	n, _ := f.docs(now.Database, now.Collection)
	switch {
	case mayBeStored:
		// Past the deadline the operation still runs: the write's fate is
		// the operation's, and the answer must not say it was not made.
		if orgd.ErrorCode(err) != orgd.ECONFLICT || !strings.Contains(err.Error(), "may have been stored all the same") {
			t.Errorf("create answered %v, want a 409 saying the record may have been stored", err)
		}
	case err != nil:
		t.Errorf("create answered %v (code %s), yet the organization holds %d record(s): a client's retry stores it twice", err, orgd.ErrorCode(err), n)
	default:
		if _, err := s.GetRecord(ctx, now, id); err != nil {
			t.Errorf("record %s: %v", id, err)
		}
	}
	if k, _ := f.docs(now.Database, "org_acme"); k != 0 {
		t.Errorf("the old org_acme holds %d documents", k)
	}
}
