package mongodb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestLateSwitchAfterAnUndo stalls a move just before it switches the
// record to the copy, lets another instance take the move over and undo it
// (which drops the copy), then lets the stalled run's switch write go: it
// must not land, or the organization would point at a copy that is gone.
func TestLateSwitchAfterAnUndo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "acme", "a@acme.test")
	f.insertDocs(acme, 20)

	// The second clock reading after the "switch" step's hook is the one
	// the switch write is stamped with: the run stalls there.
	owner, stalled, release := f.stallingStore("switch", 2)
	done := make(chan error, 1)
	go func() { done <- owner.Move(ctx, acme.ID, orgd.Placement{Tenancy: "database"}) }()
	<-stalled

	f.restartLater()
	adopter := f.store("")
	adopter.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		if step == "final_sync" {
			return errors.New("the copy's database failed") // so the adopter undoes the move
		}
		return nil
	}})
	if did, err := adopter.Reconcile(ctx); err != nil || len(did) != 1 {
		t.Fatalf("takeover: %v, %v", did, err)
	}
	close(release)
	t.Logf("the stalled run: %v", <-done)

	s = f.store("")
	o, err := s.OrganizationByName(ctx, "acme")
	if err != nil || o.Status != orgd.StatusActive || o.Tenancy != orgd.TenancyCollection || o.Collection != acme.Collection {
		t.Fatalf("after the undo and the late switch: %+v, %v; want it active where it was", o, err)
	}
	if n, _ := f.docs(o.Database, o.Collection); n != 20 {
		t.Errorf("%s.%s holds %d documents, want 20", o.Database, o.Collection, n)
	}
	f.mustHold(s)
}

// TestUndoneYetSwitched resumes a move whose journal says it is being
// undone while its record already names the copy: the record decides, and
// the move is finished, rather than sent back and forth between undoing and
// finishing it without end.
func TestUndoneYetSwitched(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	acme := mustCreate(t, s, "acme", "a@acme.test")
	f.insertDocs(acme, 20)
	s.SetHooks(abortAt("switch"))
	if err := s.Move(ctx, acme.ID, orgd.Placement{Tenancy: "database"}); !errors.Is(err, mongodb.ErrAbort) {
		t.Fatalf("move: %v, want it stopped at the switch", err)
	}
	// What a switch landing late and an undo journaled meanwhile would leave.
	master := f.db.Client.Database(f.db.MasterDB)
	copyDB := f.db.Prefix + acme.Collection
	if _, err := master.Collection("organizations").UpdateOne(ctx, bson.D{{Key: "_id", Value: acme.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "database", Value: copyDB}, {Key: "tenancy", Value: "database"}, {Key: "status", Value: "active"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := master.Collection("operations").UpdateOne(ctx, bson.D{{Key: "_id", Value: acme.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "phase", Value: "undo"}}}}); err != nil {
		t.Fatal(err)
	}

	f.restartLater()
	s = f.store("")
	bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if did, err := s.Reconcile(bounded); err != nil || len(did) != 1 {
		t.Fatalf("reconcile: %v, %v", did, err)
	}
	o, err := s.OrganizationByName(ctx, "acme")
	if err != nil || o.Status != orgd.StatusActive || o.Database != copyDB {
		t.Fatalf("after the reconciler: %+v, %v; want it active in %s", o, err, copyDB)
	}
	if n, _ := f.docs(o.Database, o.Collection); n != 20 {
		t.Errorf("%s.%s holds %d documents, want 20", o.Database, o.Collection, n)
	}
	f.mustHold(s)
}
