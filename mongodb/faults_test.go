package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// world is what a scenario starts from: an organization with data, and
// another whose name and email are taken.
type world struct {
	acme, taken *orgd.Organization
	tenantDB    string // where the store under test puts new collections
}

const acmeDocs = 25

func setup(f *fixture, s *mongodb.Store) *world {
	f.t.Helper()
	ctx := context.Background()
	acme, err := s.CreateOrganization(ctx, "Acme", "admin@acme.test", "hash-1")
	if err != nil {
		f.t.Fatal(err)
	}
	f.insertDocs(acme, acmeDocs)
	taken, err := s.CreateOrganization(ctx, "Taken", "taken@x.test", "hash-2")
	if err != nil {
		f.t.Fatal(err)
	}
	return &world{acme: acme, taken: taken}
}

// scenario is one lifecycle operation and what must be true once it and its
// recovery are over.
type scenario struct {
	name   string
	move   bool // the store's tenant database differs from acme's: a rename copies
	run    func(context.Context, *mongodb.Store, *world) error
	verify func(f *fixture, s *mongodb.Store, w *world, done bool) // done: the operation returned success
}

func update(u orgd.OrganizationUpdate) func(context.Context, *mongodb.Store, *world) error {
	return func(ctx context.Context, s *mongodb.Store, w *world) error {
		_, err := s.UpdateOrganization(ctx, w.acme.ID, u)
		return err
	}
}

// expectOrg checks the organization called name: its collection holds acme's
// documents, and its admin has email and hash.
func expectOrg(f *fixture, s *mongodb.Store, name, email, hash string) {
	f.t.Helper()
	ctx := context.Background()
	o, err := s.OrganizationByName(ctx, name)
	if err != nil {
		f.t.Fatalf("organization %q: %v", name, err)
	}
	if o.Name != name {
		f.t.Errorf("name %q, want %q", o.Name, name)
	}
	if n, sum := f.docs(o.Database, o.Collection); n != acmeDocs || sum != 4900 {
		f.t.Errorf("%s.%s holds %d documents (sum %d), want %d (sum 4900)", o.Database, o.Collection, n, sum, acmeDocs)
	}
	a, err := s.AdminByEmail(ctx, email)
	if err != nil || a.OrgID != o.ID || a.PasswordHash != hash {
		f.t.Errorf("admin by %q: %+v, %v", email, a, err)
	}
}

// expectFree checks that name and email can be used again.
func expectFree(f *fixture, s *mongodb.Store, name, email string) {
	f.t.Helper()
	ctx := context.Background()
	o, err := s.CreateOrganization(ctx, name, email, "h")
	if err != nil {
		f.t.Fatalf("name %q and email %q are not free: %v", name, email, err)
	}
	if err := s.DeleteOrganization(ctx, o.ID); err != nil {
		f.t.Fatal(err)
	}
}

func scenarios() []scenario {
	unchanged := func(f *fixture, s *mongodb.Store, w *world, _ bool) {
		expectOrg(f, s, "Acme", "admin@acme.test", "hash-1")
	}
	return []scenario{
		{name: "create", run: func(ctx context.Context, s *mongodb.Store, w *world) error {
			_, err := s.CreateOrganization(ctx, "NewCo", "new@co.test", "h")
			return err
		}, verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			unchanged(f, s, w, done)
			if done {
				if _, err := s.OrganizationByName(context.Background(), "newco"); err != nil {
					f.t.Errorf("created organization: %v", err)
				}
				return
			}
			expectFree(f, s, "newco", "new@co.test") // an interrupted create is undone
		}},
		{name: "create with a taken name", run: func(ctx context.Context, s *mongodb.Store, w *world) error {
			_, err := s.CreateOrganization(ctx, "ACME", "n2@co.test", "h")
			return err
		}, verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			unchanged(f, s, w, done)
			expectFree(f, s, "NewCo", "n2@co.test")
		}},
		{name: "create with a taken email", run: func(ctx context.Context, s *mongodb.Store, w *world) error {
			_, err := s.CreateOrganization(ctx, "NewCo", "TAKEN@x.test", "h")
			return err
		}, verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			unchanged(f, s, w, done)
			expectFree(f, s, "newco", "n3@co.test")
		}},
		{name: "rename", run: update(orgd.OrganizationUpdate{Name: ptr("Roadrunner")}), verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			expectOrg(f, s, "Roadrunner", "admin@acme.test", "hash-1")
			if n, _ := f.docs(w.acme.Database, w.acme.Collection); n != 0 {
				f.t.Errorf("the old %s.%s still holds %d documents", w.acme.Database, w.acme.Collection, n)
			}
			expectFree(f, s, "acme", "n4@co.test")
		}},
		{name: "rename case only", run: update(orgd.OrganizationUpdate{Name: ptr("ACME")}), verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			expectOrg(f, s, "ACME", "admin@acme.test", "hash-1")
		}},
		{name: "email", run: update(orgd.OrganizationUpdate{Email: ptr("boss@acme.test")}), verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			expectOrg(f, s, "Acme", "boss@acme.test", "hash-1")
			expectFree(f, s, "NewCo", "admin@acme.test")
		}},
		{name: "password", run: update(orgd.OrganizationUpdate{PasswordHash: ptr("hash-9")}), verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			expectOrg(f, s, "Acme", "admin@acme.test", "hash-9")
		}},
		{name: "rename, email and password", run: update(orgd.OrganizationUpdate{Name: ptr("Coyote"), Email: ptr("wile@acme.test"), PasswordHash: ptr("hash-9")}),
			verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
				expectOrg(f, s, "Coyote", "wile@acme.test", "hash-9")
				expectFree(f, s, "acme", "admin@acme.test")
			}},
		{name: "rename to a taken name", run: update(orgd.OrganizationUpdate{Name: ptr("taken"), Email: ptr("wile@acme.test")}),
			verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
				unchanged(f, s, w, done)
				expectFree(f, s, "NewCo", "wile@acme.test")
			}},
		{name: "email to a taken email", run: update(orgd.OrganizationUpdate{Name: ptr("Coyote"), Email: ptr("Taken@x.test")}),
			verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
				unchanged(f, s, w, done)
				expectFree(f, s, "coyote", "n5@co.test")
			}},
		{name: "rename into another database", move: true, run: update(orgd.OrganizationUpdate{Name: ptr("Moved")}),
			verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
				expectOrg(f, s, "Moved", "admin@acme.test", "hash-1")
				o, _ := s.OrganizationByName(context.Background(), "moved")
				if o.Database != w.tenantDB {
					f.t.Errorf("moved to database %q, want %q", o.Database, w.tenantDB)
				}
				specs, err := f.db.Client.Database(o.Database).Collection(o.Collection).Indexes().ListSpecifications(context.Background())
				if err != nil || !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return s.Name == "tag_1" }) {
					f.t.Errorf("indexes after the move: %v, %v", specs, err)
				}
				if n, _ := f.docs(f.db.TenantDB, "org_acme"); n != 0 {
					f.t.Errorf("the source still holds %d documents", n)
				}
			}},
		{name: "delete", run: func(ctx context.Context, s *mongodb.Store, w *world) error {
			return s.DeleteOrganization(ctx, w.acme.ID)
		}, verify: func(f *fixture, s *mongodb.Store, w *world, done bool) {
			if _, err := s.OrganizationByName(context.Background(), "acme"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				f.t.Errorf("acme after delete: %v", err)
			}
			if n, _ := f.docs(w.acme.Database, w.acme.Collection); n != 0 {
				f.t.Errorf("a deleted organization's collection holds %d documents", n)
			}
			expectFree(f, s, "acme", "admin@acme.test")
		}},
	}
}

// fault says where to interrupt an operation: at its at-th step (counting
// from 0), by aborting as if the process died or by failing the step.
type fault struct {
	at    int
	step  string // the name of the at-th step
	abort bool
	// then, if >= 0, also aborts the first recovery at that step.
	then int
}

func (ft fault) String() string {
	kind := "fail"
	if ft.abort {
		kind = "abort"
	}
	if ft.then >= 0 {
		return fmt.Sprintf("%s@%d,recovery-abort@%d", kind, ft.at, ft.then)
	}
	return fmt.Sprintf("%s@%d", kind, ft.at)
}

// hook interrupts the at-th step; it returns the names of the steps it saw.
func hook(at int, err error, seen *[]string) mongodb.Hooks {
	var n atomic.Int64
	return mongodb.Hooks{BeforeStep: func(op, step string) error {
		if seen != nil {
			*seen = append(*seen, op+"."+step)
		}
		if int(n.Add(1))-1 == at {
			return err
		}
		return nil
	}}
}

// TestFaultInjection interrupts every step of every lifecycle operation in
// turn, by a failure or by an abort as if the process died (and for aborts,
// once more during the recovery), then restarts on the same database, lets
// the reconciler run, and checks the invariants and the outcome.
func TestFaultInjection(t *testing.T) { runFaults(t, "", scenarios(), allFaults) }

// allFaults fails each step, aborts it, and aborts it again with the first
// step of the recovery aborted too.
func allFaults(_ scenario, steps []string) []fault {
	var faults []fault
	for i := range steps {
		faults = append(faults, fault{at: i, then: -1}, fault{at: i, abort: true, then: -1}, fault{at: i, abort: true, then: 0})
	}
	return faults
}

// interior reports whether step i is inside a run of the same step (the
// batches of a copy): interrupting its first and last is enough.
func interior(steps []string, i int) bool {
	return i > 0 && i < len(steps)-1 && steps[i-1] == steps[i] && steps[i+1] == steps[i]
}

// TestFaultInjectionDatabaseTenancy runs, with a database per organization,
// the scenario whose steps differ from the collection model's most: a rename,
// which copies the organization's database into the new name's (failed and
// aborted at each kind of step); a create and a delete are aborted where
// they create and drop the database. The other scenarios take the same steps
// in both models.
func TestFaultInjectionDatabaseTenancy(t *testing.T) {
	var some []scenario
	for _, sc := range scenarios() {
		switch sc.name {
		case "create", "rename", "delete":
			some = append(some, sc)
		}
	}
	runFaults(t, "database", some, func(sc scenario, steps []string) []fault {
		var faults []fault
		for i, step := range steps {
			switch {
			case sc.name == "rename" && !interior(steps, i):
				faults = append(faults, fault{at: i, abort: true, then: -1}, fault{at: i, then: -1})
			case strings.HasSuffix(step, "_collection"):
				faults = append(faults, fault{at: i, abort: true, then: -1})
			}
		}
		return faults
	})
}

func runFaults(t *testing.T, tenancy string, scs []scenario, pick func(scenario, []string) []fault) {
	var total atomic.Int64
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			// A clean run tells the steps the operation takes.
			var steps []string
			runCase(t, tenancy, sc, hook(-1, nil, &steps), fault{at: -1, then: -1})
			if len(steps) == 0 {
				t.Fatal("the operation took no steps")
			}
			for _, ft := range pick(sc, steps) {
				ft.step = steps[ft.at]
				t.Run(ft.String(), func(t *testing.T) {
					err := errors.New("injected failure")
					if ft.abort {
						err = mongodb.ErrAbort
					}
					runCase(t, tenancy, sc, hook(ft.at, err, nil), ft)
					total.Add(1)
					if ft.then >= 0 {
						total.Add(1)
					}
				})
			}
			t.Logf("%s: %d steps: %v", sc.name, len(steps), steps)
		})
	}
	t.Cleanup(func() { t.Logf("injected %d faults", total.Load()) })
}

func runCase(t *testing.T, tenancy string, sc scenario, h mongodb.Hooks, ft fault) {
	f := newFixture(t)
	f.tenancy = tenancy
	ctx := context.Background()
	w := setup(f, f.store(""))
	w.tenantDB = f.db.TenantDB
	if sc.move {
		w.tenantDB = f.db.TenantDB + "_b"
		t.Cleanup(func() { _ = f.db.Client.Database(w.tenantDB).Drop(context.Background()) })
	}
	s := f.store(w.tenantDB)
	s.SetHooks(h)
	err := sc.run(ctx, s, w)
	if ft.at < 0 && err != nil && orgd.ErrorCode(err) != orgd.ECONFLICT {
		t.Fatalf("clean run: %v", err)
	}

	// Restart: a new store, after every lease has run out.
	f.restartLater()
	s = f.store(w.tenantDB)
	if ft.then >= 0 {
		s.SetHooks(hook(ft.then, mongodb.ErrAbort, nil))
		if _, err := s.Reconcile(ctx); err != nil && !errors.Is(err, mongodb.ErrAbort) {
			t.Fatalf("first recovery: %v", err)
		}
		f.restartLater()
		s = f.store(w.tenantDB)
	}
	if _, err := s.Reconcile(ctx); err != nil {
		t.Fatalf("recovery: %v", err)
	}
	f.mustHold(s)
	// A create is done once its organization came into use, whatever
	// stopped it after (at its last step, or as it ended: the publish).
	sc.verify(f, s, w, err == nil || ft.step == "create.activated" || ft.step == "create.publish")
	f.mustHold(s)
}
