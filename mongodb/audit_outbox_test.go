package mongodb_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestAuditEventDeferred records an event whose write cannot go through in
// time (its context has already ended) and finds it in the log soon after,
// written in the background.
func TestAuditEventDeferred(t *testing.T) {
	f := newFixture(t)
	s := f.store("")
	t.Cleanup(s.Close)
	ctx := context.Background()
	org, err := s.CreateOrganization(ctx, "late", "late@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if err := s.RecordEvent(ended, orgd.Event{OrgID: org.ID, Type: "test.late", Actor: "a", Outcome: "ok"}); err != nil {
		t.Fatalf("an event the database did not take in time: %v, want it kept for later", err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		evs, err := s.Events(ctx, org.ID, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 1 && evs[0].Type == "test.late" && evs[0].Actor == "a" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deferred event never reached the log: %+v", evs)
		}
	}
}

// TestAuditOutboxOnClose closes a Store whose database never answers while
// an event waits in its outbox: Close returns, and the event's loss is logged.
func TestAuditOutboxOnClose(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/").
		SetServerSelectionTimeout(100 * time.Millisecond).SetTimeout(100 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	var logs mongotest.Logs
	s := mongodb.NewStore(client, mongodb.Config{MasterDB: "unreachable_master", TenantDB: "unreachable_tenants",
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err := s.RecordEvent(context.Background(), orgd.Event{OrgID: "o1", Type: "test.lost", Actor: "a", Outcome: "ok"}); err != nil {
		t.Fatalf("an event the database did not take: %v, want it kept for later", err)
	}
	if n := s.AuditDeferred(); n != 1 {
		t.Errorf("%d events waiting, want 1", n)
	}
	s.Close()
	out := logs.String()
	if !strings.Contains(out, `"msg":"audit event deferred`) {
		t.Errorf("the deferral is not logged:\n%s", out)
	}
	if !strings.Contains(out, `"msg":"audit event not recorded","event":"test.lost","org_id":"o1"`) {
		t.Errorf("the loss at close is not logged:\n%s", out)
	}
	if n := s.AuditDeferred(); n != 0 {
		t.Errorf("%d events still waiting after Close, want 0", n)
	}
	if err := s.RecordEvent(context.Background(), orgd.Event{OrgID: "o1", Type: "test.after", Actor: "a", Outcome: "ok"}); err == nil {
		t.Error("a closed Store kept an event it can no longer write")
	}
}
