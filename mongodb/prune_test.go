package mongodb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/event"
)

// TestPruneAuditLog deletes a deleted organization's events once its last
// one is past the retention and keeps a live one's; a round with nothing
// past the retention reads neither the whole log nor the organizations.
func TestPruneAuditLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	var reads []string // the store's reads of the organizations and the log
	client, err := mongodb.ConnectWith(ctx, f.db.URI, 5*time.Second, &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName != "find" && e.CommandName != "aggregate" {
				return
			}
			if coll, _ := e.Command.Lookup(e.CommandName).StringValueOK(); coll == "organizations" || coll == "audit_events" {
				limit, _ := e.Command.Lookup("limit").AsInt64OK()
				mu.Lock()
				defer mu.Unlock()
				reads = append(reads, fmt.Sprintf("%s %s limit %d", coll, e.Command.Lookup("filter"), limit))
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	s := f.storeOn(client, "")
	live, err := s.CreateOrganization(ctx, "live", "live@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.CreateOrganization(ctx, "gone", "gone@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{live.ID, gone.ID, gone.ID} {
		if err := s.RecordEvent(ctx, orgd.Event{OrgID: id, Type: "test", Actor: "a", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteOrganization(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	events := func(orgID string) int {
		t.Helper()
		evs, err := s.Events(ctx, orgID, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}

	mu.Lock()
	reads = nil
	mu.Unlock()
	if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, r := range reads {
		if strings.HasPrefix(r, "organizations") || !strings.HasSuffix(r, "limit 1") {
			t.Errorf("a round with nothing to prune read %s", r)
		}
	}
	mu.Unlock()
	if n := events(gone.ID); n != 2 {
		t.Errorf("within the retention: %d of the deleted organization's 2 events left", n)
	}

	f.clock.Advance(2 * time.Hour)
	if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := events(gone.ID); n != 0 {
		t.Errorf("past the retention: %d of the deleted organization's events left", n)
	}
	if n := events(live.ID); n != 1 {
		t.Errorf("past the retention: %d of the live organization's 1 event left", n)
	}
}
