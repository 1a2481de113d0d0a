package mongodb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// deployments starts n-1 database servers besides the shared one ("main"),
// one after the other, named east, west, …
func deployments(t *testing.T, n int) map[string]*mongo.Client {
	t.Helper()
	out := map[string]*mongo.Client{}
	for _, name := range []string{"east", "west", "north"}[:n-1] {
		out[name] = mongotest.NewServer(t).Client
	}
	return out
}

// collectionsOn lists the org_* collections and per-organization databases
// the fixture's organizations have on deployment dep.
func (f *fixture) tenantsOn(dep string) []string {
	f.t.Helper()
	ctx := context.Background()
	c := f.client(dep)
	var out []string
	names, err := c.Database(f.db.TenantDB).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		f.t.Fatal(err)
	}
	out = append(out, names...)
	dbs, err := c.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, db := range dbs {
		if len(db) > len(f.db.Prefix) && db[:len(f.db.Prefix)] == f.db.Prefix && db != f.db.TenantDB && db != f.db.MasterDB {
			out = append(out, db)
		}
	}
	slices.Sort(out)
	return out
}

// TestPlacementSpreadsAndDrains places organizations on three deployments:
// the policy fills the one with the fewest tenants, an operator can name
// one, and the policy places none on a draining deployment (naming it does).
func TestPlacementSpreadsAndDrains(t *testing.T) {
	f := newFixture(t)
	f.deps = deployments(t, 3)
	ctx := context.Background()
	s := f.store("")
	count := map[string]int{}
	for i := range 9 {
		o, err := s.CreateOrganization(ctx, fmt.Sprintf("org%d", i), fmt.Sprintf("a%d@x.test", i), "h")
		if err != nil {
			t.Fatal(err)
		}
		count[o.Deployment]++
	}
	if count["main"] != 3 || count["east"] != 3 || count["west"] != 3 {
		t.Errorf("placement %v, want 3 on each of main, east and west", count)
	}
	for _, dep := range []string{"main", "east", "west"} {
		if got := f.tenantsOn(dep); len(got) != 3 {
			t.Errorf("deployment %s holds %v, want 3 tenant collections", dep, got)
		}
	}

	if err := s.SetDraining(ctx, "east", true); err != nil {
		t.Fatal(err)
	}
	f.tenancy = "database"
	s = f.store("") // a restarted instance counts afresh
	for i := range 4 {
		o, err := s.CreateOrganization(ctx, fmt.Sprintf("late%d", i), fmt.Sprintf("l%d@x.test", i), "h")
		if err != nil {
			t.Fatal(err)
		}
		if o.Deployment == "east" || o.Tenancy != orgd.TenancyDatabase {
			t.Errorf("organization placed on %s in the %s model while east drains", o.Deployment, o.Tenancy)
		}
		if o.Database != f.db.Prefix+"org_late"+fmt.Sprint(i) {
			t.Errorf("database %q", o.Database)
		}
	}
	if got := f.tenantsOn("east"); len(got) != 3 {
		t.Errorf("draining east holds %v", got)
	}
	// Naming a draining deployment places there: the operator means it.
	if o, err := s.CreateOrganizationAt(ctx, "dedicated", "d@x.test", "h", orgd.Placement{Deployment: "east"}); err != nil || o.Deployment != "east" {
		t.Errorf("create naming draining east: %+v, %v", o, err)
	}
	_, err := s.CreateOrganizationAt(ctx, "named", "n@x.test", "h", orgd.Placement{Deployment: "south"})
	if orgd.ErrorCode(err) != orgd.EINVALID {
		t.Errorf("create on an unknown deployment: %v, want invalid", err)
	}
	o, err := s.CreateOrganizationAt(ctx, "named", "n@x.test", "h", orgd.Placement{Deployment: "west", Tenancy: orgd.TenancyCollection})
	if err != nil || o.Deployment != "west" || o.Tenancy != orgd.TenancyCollection || o.Database != f.db.TenantDB {
		t.Errorf("create on west: %+v, %v", o, err)
	}
	for _, dep := range []string{"main", "west"} {
		if err := s.SetDraining(ctx, dep, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateOrganization(ctx, "nowhere", "w@x.test", "h"); orgd.ErrorCode(err) != orgd.EUNAVAILABLE {
		t.Errorf("create with every deployment draining: %v", err)
	}
	stats, err := s.PlacementStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tenants int64
	for _, st := range stats {
		tenants += st.Tenants
		if !st.Draining || st.Collections == 0 || st.Error != "" {
			t.Errorf("stats %+v", st)
		}
	}
	if tenants != 15 {
		t.Errorf("stats count %d tenants, want 15", tenants)
	}
	f.mustHold(s)
}

// moveCase is a move to try, from where the organization was created.
type moveCase struct {
	name string
	from orgd.Placement
	to   orgd.Placement
	// all: fail and abort each kind of step (and abort some recoveries too);
	// else abort where data is written or the placement changes. Every move
	// takes the same steps: one case covers them all, the others their own
	// placements.
	all bool
}

func moveCases() []moveCase {
	return []moveCase{
		{"to another deployment", orgd.Placement{Deployment: "main"}, orgd.Placement{Deployment: "east"}, false},
		{"to the database model", orgd.Placement{Deployment: "main"}, orgd.Placement{Tenancy: orgd.TenancyDatabase}, false},
		{"to another deployment and model", orgd.Placement{Deployment: "east", Tenancy: orgd.TenancyDatabase}, orgd.Placement{Deployment: "main", Tenancy: orgd.TenancyCollection}, true},
	}
}

// TestMoveFaultInjection interrupts every step of moves between deployments
// and models, by a failure (undone: the organization stays where it was) or
// an abort as if the process died (resumed by the reconciler, and for some
// aborted again during that recovery), then checks the invariants, that the
// organization is in one place only with every document, and that it works.
func TestMoveFaultInjection(t *testing.T) {
	east := deployments(t, 2)
	var total atomic.Int64
	for _, mc := range moveCases() {
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			var steps []string
			runMoveCase(t, east, mc, hook(-1, nil, &steps), fault{at: -1, then: -1})
			var faults []fault
			for i := range steps {
				switch {
				case interior(steps, i):
				case mc.all:
					faults = append(faults, fault{at: i, then: -1}, fault{at: i, abort: true, then: -1})
					if i%5 == 0 {
						faults = append(faults, fault{at: i, abort: true, then: 0})
					}
				case slices.Contains([]string{"move.copy_batch", "move.final_sync", "move.switch", "move.drop_source"}, steps[i]):
					faults = append(faults, fault{at: i, abort: true, then: -1})
				}
			}
			for _, ft := range faults {
				t.Run(ft.String(), func(t *testing.T) {
					runMoveCase(t, east, mc, hook(ft.at, faultErr(ft), nil), ft)
					total.Add(1)
				})
			}
			t.Logf("%s: %d steps: %v", mc.name, len(steps), steps)
		})
	}
	t.Cleanup(func() { t.Logf("injected %d faults into moves", total.Load()) })
}

func faultErr(ft fault) error {
	if ft.abort {
		return mongodb.ErrAbort
	}
	return errors.New("injected failure")
}

func runMoveCase(t *testing.T, deps map[string]*mongo.Client, mc moveCase, h mongodb.Hooks, ft fault) {
	f := newFixture(t)
	f.deps = deps
	f.batch = 30 // one batch holds acme's documents: fewer steps, each kind still interrupted
	ctx := context.Background()
	for _, c := range deps {
		t.Cleanup(func() {
			_ = c.Database(f.db.MasterDB).Drop(ctx)
			_ = c.Database(f.db.TenantDB).Drop(ctx)
			mongotest.DropPrefixed(ctx, c, f.db.Prefix)
		})
	}
	s := f.store("")
	acme, err := s.CreateOrganizationAt(ctx, "Acme", "admin@acme.test", "hash-1", mc.from)
	if err != nil {
		t.Fatal(err)
	}
	f.insertDocs(acme, acmeDocs)
	if _, err := s.CreateOrganization(ctx, "Other", "o@x.test", "h"); err != nil {
		t.Fatal(err)
	}
	s.SetHooks(h)
	err = s.Move(ctx, acme.ID, mc.to)
	if ft.at < 0 && err != nil {
		t.Fatalf("clean move: %v", err)
	}

	// However it stopped, the organization serves reads meanwhile.
	readable := func(when string) {
		t.Helper()
		if o, err := s.OrganizationByName(ctx, "acme"); err != nil || o.Status != orgd.StatusActive && o.Status != orgd.StatusMoving {
			t.Errorf("%s: %+v, %v", when, o, err)
		}
	}
	readable("after the interruption")
	f.restartLater()
	s = f.store("")
	if ft.then >= 0 {
		s.SetHooks(hook(ft.then, mongodb.ErrAbort, nil))
		if _, err := s.Reconcile(ctx); err != nil && !errors.Is(err, mongodb.ErrAbort) {
			t.Fatalf("first recovery: %v", err)
		}
		readable("after an interrupted recovery")
		f.restartLater()
		s = f.store("")
	}
	if _, err := s.Reconcile(ctx); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	f.mustHold(s)

	o, err := s.OrganizationByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.MoveStatus(ctx, acme.ID)
	if err != nil {
		t.Fatalf("move status: %v", err)
	}
	moved := st.Phase == "moved"
	if moved != (o.Database != acme.Database || o.Deployment != acme.Deployment) || !st.Done {
		t.Errorf("the move's outcome is %q (%+v), and the organization is at %s.%s on %s", st.Phase, st, o.Database, o.Collection, o.Deployment)
	}
	if ft.abort && !moved {
		t.Errorf("an interrupted move was not resumed: %+v", st)
	}
	if moved && st.Checksum == "" {
		t.Errorf("the move recorded no checksum: %+v", st)
	}
	if !o.Writable() {
		t.Errorf("status %s after the move", o.Status)
	}
	if n, sum := f.docsOn(o.Deployment, o.Database, o.Collection); n != acmeDocs || sum != 4900 {
		t.Errorf("%s.%s on %s holds %d documents (sum %d), want %d (4900)", o.Database, o.Collection, o.Deployment, n, sum, acmeDocs)
	}
	specs, err := f.client(o.Deployment).Database(o.Database).Collection(o.Collection).Indexes().ListSpecifications(ctx)
	if err != nil || !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == "tag_1" }) {
		t.Errorf("indexes after the move: %v, %v", specs, err)
	}
	if moved {
		if n, _ := f.docsOn(acme.Deployment, acme.Database, acme.Collection); n != 0 {
			t.Errorf("the source still holds %d documents", n)
		}
	}
	if ft.at%3 != 0 {
		return
	}
	// It still renames and deletes where it now is.
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("Renamed")}); err != nil {
		t.Fatalf("rename after the move: %v", err)
	}
	if err := s.DeleteOrganization(ctx, o.ID); err != nil {
		t.Fatalf("delete after the move: %v", err)
	}
	f.mustHold(s)
}

// TestMoveKeepsItsLeaseWhileDraining moves an organization with a drain
// longer than the operation's lease and grace together, while two other
// instances reconcile all along. The move keeps its lease through the wait
// and finishes itself; were it to let the lease lapse, each instance that
// took it over would wait as long, lose it the same way, and the
// organization would stay paused.
func TestMoveKeepsItsLeaseWhileDraining(t *testing.T) {
	f := newFixture(t)
	f.clock = nil // the lease runs out in real time, as the drain passes
	f.lease, f.grace, f.drain = 200*time.Millisecond, 100*time.Millisecond, time.Second
	ctx := context.Background()
	s := f.store("")
	o := mustCreate(t, s, "acme", "a@acme.test")
	f.insertDocs(o, 5)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var adopted atomic.Int32
	for range 2 {
		other := f.store("")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				did, _ := other.Reconcile(ctx)
				for _, d := range did {
					if strings.Contains(d, "move") {
						adopted.Add(1)
					}
				}
			}
		}()
	}
	err := s.Move(ctx, o.ID, orgd.Placement{Tenancy: "database"})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	if n := adopted.Load(); n > 0 {
		t.Errorf("other instances took the move over %d times", n)
	}
	if got, err := s.OrganizationByName(ctx, "acme"); err != nil || got.Status != orgd.StatusActive || got.Tenancy != "database" {
		t.Errorf("after the move: %+v, %v", got, err)
	}
	f.mustHold(s)
}

// TestPauseOfAStoppedMove stops a move during its pause, lets writes flow,
// then has another instance finish it: the pause reported, while the move
// catches up again and once it is done, counts the time writes were paused
// (the stopped run's and the last run's), never the time they flowed.
func TestPauseOfAStoppedMove(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := f.store("")
	o := mustCreate(t, s, "acme", "a@acme.test")
	f.insertDocs(o, 5)
	stopped := false
	s.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		if step == "verify" && !stopped { // paused, copy in sync: one second passes, the process stops
			stopped = true
			f.clock.Advance(time.Second)
			cancel()
			return context.Canceled
		}
		return nil
	}})
	if err := s.Move(ctx, o.ID, orgd.Placement{Tenancy: "database"}); err == nil {
		t.Fatal("the move was not stopped")
	}
	f.clock.Advance(10 * time.Second) // writes flow meanwhile
	st, err := s.MoveStatus(context.Background(), o.ID)
	if err != nil || st.Done || st.Paused != time.Second {
		t.Fatalf("a stopped move: %+v, %v; want writes paused 1s", st, err)
	}
	f.restartLater()
	f.clock.Advance(time.Second) // so that a pause counted from the first would show
	other := f.store("")
	if _, err := other.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err = other.MoveStatus(context.Background(), o.ID)
	if err != nil || !st.Done || st.Phase != "moved" || st.Paused != time.Second {
		t.Errorf("the finished move: %+v, %v; want moved, writes paused 1s", st, err)
	}
	f.mustHold(other)
}

// TestShutdownDuringAMove closes the store while a move it started runs:
// the move stops, to be finished by the reconciler, and that is no error in
// the log, where every deploy during a move would raise a false alert.
func TestShutdownDuringAMove(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	cfg := f.config("")
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := mongodb.NewStore(f.db.Client, cfg)
	o := mustCreate(t, s, "acme", "a@acme.test")
	f.insertDocs(o, 5)
	reached, release := make(chan struct{}), make(chan struct{})
	s.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		if step == "catch_up" {
			close(reached)
			<-release
		}
		return nil
	}})
	if _, err := s.StartMove(context.Background(), o.ID, orgd.Placement{Tenancy: "database"}); err != nil {
		t.Fatal(err)
	}
	<-reached
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	time.Sleep(500 * time.Millisecond) // time for Close to cancel the move's context, which it does first
	close(release)
	<-closed
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "move stopped by the shutdown") {
		t.Errorf("the log:\n%s", logs.String())
	}
}

// TestModelChangeOnADrainingDeployment changes the tenancy model of an
// organization on a draining deployment, where it stays; and a move whose
// target the policy picks never picks a draining deployment.
func TestModelChangeOnADrainingDeployment(t *testing.T) {
	f := newFixture(t)
	f.deps = deployments(t, 3)
	ctx := context.Background()
	s := f.store("")
	o, err := s.CreateOrganizationAt(ctx, "acme", "a@acme.test", "h", orgd.Placement{Deployment: "east", Tenancy: orgd.TenancyCollection})
	if err != nil {
		t.Fatal(err)
	}
	f.insertDocs(o, 5)
	other, err := s.CreateOrganizationAt(ctx, "beta", "b@beta.test", "h", orgd.Placement{Deployment: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDraining(ctx, "east", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, o.ID, orgd.Placement{Deployment: "east", Tenancy: orgd.TenancyDatabase}); err != nil {
		t.Fatalf("a change of model on draining east: %v", err)
	}
	if got, err := s.OrganizationByID(ctx, o.ID); err != nil || got.Deployment != "east" || got.Tenancy != orgd.TenancyDatabase {
		t.Fatalf("after the model change: %+v, %v", got, err)
	}
	if err := s.Move(ctx, other.ID, orgd.Placement{}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OrganizationByID(ctx, other.ID); err != nil || got.Deployment != "west" {
		t.Errorf("the policy moved beta to %+v, %v; want west, the one deployment neither its own nor draining", got, err)
	}
	f.mustHold(s)
}

// TestUndoneMoveDropsALateCopyWrite undoes a move to another deployment
// whose copy receives, after the undo dropped it, a batch the move had sent
// there earlier: as when that deployment hung (the batch timed out, the move
// was undone) and ran the queued batch once it answered again. The copy must
// not stay there: no organization claims it, the sweep keeps a collection
// that holds data, and a later move there is refused.
func TestUndoneMoveDropsALateCopyWrite(t *testing.T) {
	f := newFixture(t)
	f.deps = deployments(t, 2)
	ctx := context.Background()
	s := f.store("")
	o, err := s.CreateOrganizationAt(ctx, "acme", "a@acme.test", "h", orgd.Placement{Deployment: "main", Tenancy: orgd.TenancyCollection})
	if err != nil {
		t.Fatal(err)
	}
	f.insertDocs(o, 25)
	target := f.client("east").Database(o.Database).Collection(o.Collection)
	late := false
	s.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		switch {
		case step == "catch_up":
			return errors.New("injected: east did not answer in time")
		case step == "undo_finish" && !late: // the copy was just dropped; the queued batch lands
			late = true
			if _, err := target.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 0}, {Key: "n", Value: 0}}, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}}); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}})
	if err := s.Move(ctx, o.ID, orgd.Placement{Deployment: "east"}); err == nil {
		t.Fatal("the move was not undone")
	}
	if !late {
		t.Fatal("the undo did not drop the copy")
	}
	if n, _ := f.docsOn("east", o.Database, o.Collection); n != 0 {
		t.Errorf("the undone move left %d documents of its copy on east", n)
	}
	st, err := s.MoveStatus(ctx, o.ID)
	if err != nil || !st.Done || st.Phase != "undone" {
		t.Errorf("move status %+v, %v; want undone", st, err)
	}
	s.SetHooks(mongodb.Hooks{})
	if err := s.Move(ctx, o.ID, orgd.Placement{Deployment: "east"}); err != nil {
		t.Errorf("a move to east after the undone one: %v", err)
	}
	f.mustHold(s)
}
