package mongodb_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// TestCheckFindsOrphanDatabases plants per-organization databases that no
// organization claims, one empty and one holding a document: the check
// reports both (on the embedded database it lists databases from their
// files), repairs the empty one, and keeps the other for a person.
func TestCheckFindsOrphanDatabases(t *testing.T) {
	f := newFixture(t)
	f.tenancy = "database"
	s := f.store("")
	ctx := context.Background()
	o, err := s.CreateOrganization(ctx, "owned", "owned@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	f.insertDocs(o, 3)
	ghost, haunted := f.db.Prefix+"org_ghost", f.db.Prefix+"org_haunted"
	if err := f.db.Client.Database(ghost).CreateCollection(ctx, "org_ghost"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Client.Database(haunted).Collection("org_haunted").InsertOne(ctx, bson.D{{Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}

	probs, err := s.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range probs {
		texts = append(texts, p.Text)
	}
	if len(probs) != 2 || !strings.Contains(texts[0], ghost+" belongs to no organization and is empty") ||
		!strings.Contains(texts[1], haunted+" belongs to no organization and holds data in org_haunted (1 document by its statistics): kept") {
		t.Fatalf("check: %q, want the empty %s and the kept %s", texts, ghost, haunted)
	}
	if !probs[0].Auto || probs[0].Repair == nil || probs[1].Repair != nil {
		t.Errorf("the empty one should be repaired automatically, the other left to a person: %+v", probs)
	}
	if _, err := probs[0].Repair(ctx); err != nil {
		t.Fatal(err)
	}
	dbs, err := f.db.Client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(dbs, ghost) || !slices.Contains(dbs, haunted) || !slices.Contains(dbs, o.Database) {
		t.Errorf("after the repair the databases are %q: want %s gone, %s and %s kept", dbs, ghost, haunted, o.Database)
	}
}

// TestOrphanRepairSparesANewOwner finds an empty collection (in the database
// model, database) that no organization claims; before its repair runs, an
// organization of that name is created, which adopts it. The repair must
// then leave it alone, in either tenancy model.
func TestOrphanRepairSparesANewOwner(t *testing.T) {
	for _, tenancy := range []string{"", "database"} {
		t.Run(cmp.Or(tenancy, "collection"), func(t *testing.T) {
			f := newFixture(t)
			f.tenancy = tenancy
			s := f.store("")
			ctx := context.Background()
			db := f.db.TenantDB
			if tenancy == "database" {
				db = f.db.Prefix + "org_ghost"
			}
			if err := f.db.Client.Database(db).CreateCollection(ctx, "org_ghost"); err != nil {
				t.Fatal(err)
			}
			probs, err := s.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) != 1 || !probs[0].Auto || !strings.Contains(probs[0].Text, "belongs to no organization and is empty") {
				t.Fatalf("check: %+v, want one empty orphan", probs)
			}
			o, err := s.CreateOrganization(ctx, "Ghost", "g@x.test", "h")
			if err != nil {
				t.Fatal(err)
			}
			if msg, err := probs[0].Repair(ctx); err != nil || msg != "" {
				t.Errorf("repair after the organization claimed it: %q, %v", msg, err)
			}
			f.mustHold(s)
			createRecord(t, s, o, `{"n":1}`)
			if n, _ := f.docs(o.Database, o.Collection); n != 1 {
				t.Errorf("%s.%s holds %d documents, want 1", o.Database, o.Collection, n)
			}
		})
	}
}

// TestReconcilerLetsALeftoverAge plants an empty per-organization database
// that no organization claims, as a delete leaves on the embedded database.
// The reconciler drops it only once it has been found empty for longer than
// a write that began before the delete could still run there (dropping a
// database on the embedded database deletes its file under such a write),
// and starts counting again when it holds data for a while.
func TestReconcilerLetsALeftoverAge(t *testing.T) {
	f := newFixture(t)
	f.tenancy = "database"
	s := f.store("")
	ctx := context.Background()
	ghost := f.db.Prefix + "org_ghost"
	if err := f.db.Client.Database(ghost).CreateCollection(ctx, "org_ghost"); err != nil {
		t.Fatal(err)
	}
	exists := func() bool {
		t.Helper()
		dbs, err := f.db.Client.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(dbs, ghost)
	}
	reconcile := func(after time.Duration) {
		t.Helper()
		f.clock.Advance(after)
		if _, err := s.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reconcile(0)
	reconcile(time.Minute)
	if !exists() {
		t.Fatalf("%s was dropped a minute after it was first found empty", ghost)
	}
	// Data lands in it: it is kept, and found empty again later, it starts over.
	c := f.db.Client.Database(ghost).Collection("org_ghost")
	if _, err := c.InsertOne(ctx, bson.D{{Key: "n", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	reconcile(2 * time.Minute)
	if _, err := c.DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	reconcile(time.Minute)
	reconcile(time.Minute)
	if !exists() {
		t.Fatalf("%s was dropped a minute after it was found empty again", ghost)
	}
	reconcile(time.Minute)
	if exists() {
		t.Errorf("%s is still there after three minutes empty", ghost)
	}
}

// TestLeftoverAgeSurvivesACutShortSweep checks that a sweep cut short (its context
// ends while it repairs) must not forget how long the leftovers it did not
// reach have been empty.
func TestLeftoverAgeSurvivesACutShortSweep(t *testing.T) {
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
