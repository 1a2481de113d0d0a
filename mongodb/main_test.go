package mongodb_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// clock is a test clock that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	lease = 30 * time.Second
	grace = 10 * time.Second
)

// fixture is one test's databases and a store over them.
type fixture struct {
	t       *testing.T
	db      *mongotest.DB
	clock   *clock
	tenancy string                   // of new organizations; empty: collection
	deps    map[string]*mongo.Client // deployments besides the shared server ("main")
	drain   time.Duration            // a move's drain time; zero: 1 ms
	lease   time.Duration            // an operation's lease; zero: 30 s
	grace   time.Duration            // past an expired lease; zero: 10 s
	batch   int                      // copy batch; zero: 10
	cache   time.Duration            // cache sync interval; zero: no cache
	spread  int                      // TenantDBs; zero: the tenant database alone
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return &fixture{t: t, db: mongotest.New(t), clock: &clock{now: time.Now()}}
}

// store returns a new Store, as a restarted process would have, over tenantDB
// (the fixture's own when empty).
func (f *fixture) store(tenantDB string) *mongodb.Store { return f.storeOn(f.db.Client, tenantDB) }

// storeOn is store over client, which must reach the fixture's database.
func (f *fixture) storeOn(client *mongo.Client, tenantDB string) *mongodb.Store {
	return mongodb.NewStore(client, f.config(tenantDB))
}

// config is the configuration of the fixture's stores.
func (f *fixture) config(tenantDB string) mongodb.Config {
	if tenantDB == "" {
		tenantDB = f.db.TenantDB
	}
	var now func() time.Time // nil clock: real time
	if f.clock != nil {
		now = f.clock.Now
	}
	return mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: tenantDB,
		Tenancy: f.tenancy, TenantDBPrefix: f.db.Prefix, Deployments: f.deps, MoveDrain: cmp.Or(f.drain, time.Millisecond),
		Lease: cmp.Or(f.lease, lease), Grace: cmp.Or(f.grace, grace), CopyBatch: cmp.Or(f.batch, 10), CacheSync: f.cache, Now: now, TenantDBs: f.spread,
		ListDatabases: f.db.ListDatabases}
}

// stallingStore returns a store whose run freezes, as a paused VM would, at
// the at-th reading of its clock after the hook of step has run (the first
// is the step's own lease check), and goes on once release is closed;
// stalled is closed when it freezes.
func (f *fixture) stallingStore(step string, at int) (s *mongodb.Store, stalled, release chan struct{}) {
	var readings atomic.Int32
	stalled, release = make(chan struct{}), make(chan struct{})
	cfg := f.config("")
	cfg.Now = func() time.Time {
		if readings.Load() > 0 && readings.Add(1) == int32(at)+1 {
			close(stalled)
			<-release
		}
		return f.clock.Now()
	}
	s = mongodb.NewStore(f.db.Client, cfg)
	s.SetHooks(mongodb.Hooks{BeforeStep: func(_, name string) error {
		if name == step {
			readings.Store(1)
		}
		return nil
	}})
	return s, stalled, release
}

// client returns the client of deployment dep.
func (f *fixture) client(dep string) *mongo.Client {
	if c := f.deps[dep]; c != nil {
		return c
	}
	return f.db.Client
}

// restartLater moves the clock past every lease and its grace period.
func (f *fixture) restartLater() { f.clock.Advance(lease + grace + time.Second) }

// mustHold fails the test when the store's invariant check finds anything.
func (f *fixture) mustHold(s *mongodb.Store) {
	f.t.Helper()
	probs, err := s.Check(context.Background())
	if err != nil {
		f.t.Fatalf("check: %v", err)
	}
	for _, p := range probs {
		if !p.Leftover {
			f.t.Errorf("invariant broken: %s", p.Text)
		}
	}
}

// insertDocs puts n documents, and an index, into the organization's collection.
func (f *fixture) insertDocs(o *orgd.Organization, n int) {
	f.t.Helper()
	c := f.client(o.Deployment).Database(o.Database).Collection(o.Collection)
	docs := make([]any, n)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i * i}, {Key: "tag", Value: "t"}}
	}
	ctx := context.Background()
	if _, err := c.InsertMany(ctx, docs); err != nil {
		f.t.Fatal(err)
	}
	if err := c.Database().RunCommand(ctx, bson.D{{Key: "createIndexes", Value: o.Collection},
		{Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "tag", Value: 1}}}, {Key: "name", Value: "tag_1"}}}}}).Err(); err != nil {
		f.t.Fatal(err)
	}
}

// docs returns the sum of n over the documents of db.coll, and their count.
func (f *fixture) docs(db, coll string) (count, sum int) {
	f.t.Helper()
	return f.docsOn("", db, coll)
}

// docsOn is docs on deployment dep.
func (f *fixture) docsOn(dep, db, coll string) (count, sum int) {
	f.t.Helper()
	cur, err := f.client(dep).Database(db).Collection(coll).Find(context.Background(), bson.D{})
	if err != nil {
		f.t.Fatal(err)
	}
	var all []struct {
		N int `bson:"n"`
	}
	if err := cur.All(context.Background(), &all); err != nil {
		f.t.Fatal(err)
	}
	for _, d := range all {
		sum += d.N
	}
	return len(all), sum
}

func ptr[T any](v T) *T { return &v }

// abortAt returns hooks that stop an operation at step, as a crash there would.
func abortAt(step string) mongodb.Hooks {
	return mongodb.Hooks{BeforeStep: func(_, s string) error {
		if s == step {
			return mongodb.ErrAbort
		}
		return nil
	}}
}

// mustCreate creates organization name, its admin's email email, on s.
func mustCreate(t *testing.T, s *mongodb.Store, name, email string) *orgd.Organization {
	t.Helper()
	o, err := s.CreateOrganization(context.Background(), name, email, "h")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// reads records a store's reads (find and aggregate) of some collections,
// each as "<command> <collection> <filter><pipeline> limit <n>".
type reads struct {
	mu   sync.Mutex
	seen []string
}

// take returns the reads recorded since the last take.
func (r *reads) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := r.seen
	r.seen = nil
	return seen
}

// watchedStore is store("") over a client of its own whose reads of colls
// are recorded.
func (f *fixture) watchedStore(colls ...string) (*mongodb.Store, *reads) {
	f.t.Helper()
	r := &reads{}
	client, err := mongodb.ConnectWith(context.Background(), f.db.URI, 5*time.Second, &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName != "find" && e.CommandName != "aggregate" {
				return
			}
			coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
			if !slices.Contains(colls, coll) {
				return
			}
			limit, _ := e.Command.Lookup("limit").AsInt64OK()
			r.mu.Lock()
			defer r.mu.Unlock()
			r.seen = append(r.seen, fmt.Sprintf("%s %s %s%s limit %d", e.CommandName, coll,
				e.Command.Lookup("filter"), e.Command.Lookup("pipeline"), limit))
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return f.storeOn(client, ""), r
}
