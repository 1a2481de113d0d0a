package mongodb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
)

// TestPruneAuditLog deletes a deleted organization's events once its last
// one is past the retention and keeps a live one's; a round with nothing
// past the retention reads neither the whole log nor the organizations.
func TestPruneAuditLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s, reads := f.watchedStore("organizations", "audit_events")
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

	reads.take()
	if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, r := range reads.take() {
		if strings.HasPrefix(r, "find organizations") || !strings.HasSuffix(r, "limit 1") {
			t.Errorf("a round with nothing to prune read %s", r)
		}
	}
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
	// The live organization's event stays past the retention: the rounds
	// after do not read the whole log again until the retention has passed.
	for _, after := range []time.Duration{time.Minute, 30 * time.Minute} {
		f.clock.Advance(after)
		reads.take()
		if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, r := range reads.take() {
			if strings.HasPrefix(r, "find organizations") || !strings.HasSuffix(r, "limit 1") {
				t.Errorf("a round %v after a full one read %s", after, r)
			}
		}
	}
}
