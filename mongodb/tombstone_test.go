package mongodb_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestTombstones checks the marks that operations leave for writers of
// tenant data (settle's slow path, while they are recent): a create leaves
// none, so a new organization's first writes take the fast path; a rename
// leaves one; and a rename whose end was interrupted before it told the
// other instances, and resumed later by the reconciler, renews its time, so
// that the window it opens begins after the other instances were told.
func TestTombstones(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	recent := f.db.Client.Database(f.db.MasterDB).Collection("recent_ops")
	endedAt := func(orgID string) []time.Time {
		t.Helper()
		cur, err := recent.Find(ctx, bson.D{{Key: "org", Value: orgID}})
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			EndedAt time.Time `bson:"ended_at"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		for _, d := range docs {
			out = append(out, d.EndedAt)
		}
		return out
	}
	ms := func(t time.Time) time.Time { return t.Truncate(time.Millisecond) } // as stored

	s := f.store("")
	o := mustCreate(t, s, "acme", "a@acme.test")
	if got := endedAt(o.ID); len(got) != 0 {
		t.Errorf("a create left %d tombstones, want none", len(got))
	}
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("wile")}); err != nil {
		t.Fatal(err)
	}
	if got := endedAt(o.ID); len(got) != 1 || !got[0].Equal(ms(f.clock.Now())) {
		t.Errorf("a rename left tombstones ended at %v, want one at %v", got, f.clock.Now())
	}

	o2 := mustCreate(t, s, "roadrunner", "r@acme.test")
	s.SetHooks(abortAt("publish"))
	if _, err := s.UpdateOrganization(ctx, o2.ID, orgd.OrganizationUpdate{Name: ptr("coyote")}); err == nil {
		t.Fatal("the rename's end was not interrupted")
	}
	f.restartLater()
	resumed := f.clock.Now()
	if _, err := f.store("").Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := endedAt(o2.ID); len(got) != 1 || !got[0].Equal(ms(resumed)) {
		t.Errorf("a rename resumed at %v left tombstones ended at %v, want one at the resume", resumed, got)
	}
	f.mustHold(s)
}
