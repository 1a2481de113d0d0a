package mongodb_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// blockFirstOrgsUpdate returns a client whose first update of the master
// database's organizations collection closes ready and waits, before it is
// sent, for proceed.
func (f *fixture) blockFirstOrgsUpdate(t *testing.T, ready, proceed chan struct{}) *mongo.Client {
	var done atomic.Bool
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "update" || e.DatabaseName != f.db.MasterDB {
			return
		}
		if coll, _ := e.Command.Lookup("update").StringValueOK(); coll != "organizations" {
			return
		}
		if done.CompareAndSwap(false, true) {
			close(ready)
			<-proceed
		}
	}}
	c, err := mongo.Connect(options.Client().ApplyURI(f.db.URI).SetTimeout(30 * time.Second).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// TestCreateActivatedDuringATakeover stalls a create just before it marks
// its organization active, while a reconciler takes the create over and is
// about to claim the record; the stalled create then marks it active. The
// create must not answer success for an organization the reconciler then
// undoes: once active, the reconciler finishes it.
func TestCreateActivatedDuringATakeover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	aReady, aGo := make(chan struct{}), make(chan struct{})
	bReady, bGo := make(chan struct{}), make(chan struct{})
	a := f.storeOn(f.blockFirstOrgsUpdate(t, aReady, aGo), "")
	b := f.storeOn(f.blockFirstOrgsUpdate(t, bReady, bGo), "")

	type res struct {
		o   *orgd.Organization
		err error
	}
	aDone := make(chan res, 1)
	go func() { o, err := a.CreateOrganization(ctx, "acme", "a@acme.test", "h"); aDone <- res{o, err} }()
	<-aReady // A checked its lease at step "activate" and is about to mark the organization active
	f.restartLater()
	bDone := make(chan error, 1)
	go func() { _, err := b.Reconcile(ctx); bDone <- err }()
	<-bReady // B took the operation over, read the record (creating), and is about to claim it
	close(aGo)
	r := <-aDone // it marked the organization active, then found its operation taken
	close(bGo)
	if err := <-bDone; err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if r.err == nil {
		t.Error("the create answered success though another run had taken it over")
	}
	if _, err := f.store("").OrganizationByName(ctx, "acme"); err != nil {
		t.Errorf("the organization was active before the reconciler claimed it, and is gone: %v", err)
	}
	f.mustHold(f.store(""))
}
