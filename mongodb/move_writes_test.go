package mongodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestMoveUnderConcurrentWrites moves an organization to another deployment
// and model while writers create, replace and delete its records and
// readers read them, through the records API's store methods, each with the
// organization as a request reads it: half of them on the instance that
// moves, half on another instance whose cache learns of the move from the
// changes it publishes. Every acknowledged write is then found in the new
// place, document by document; no read missed a record; writes waited only
// while the move paused them.
func TestMoveUnderConcurrentWrites(t *testing.T) {
	f := newFixture(t)
	f.deps = deployments(t, 2)
	f.clock = nil // real time: the pause is measured
	f.drain, f.batch = 200*time.Millisecond, 100
	ctx := context.Background()
	s := f.store("")
	f.cache = 50 * time.Millisecond
	other := f.store("")
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	go other.RunCacheSync(syncCtx, slog.New(slog.DiscardHandler))
	instances := []*mongodb.Store{s, other}
	acme, err := s.CreateOrganization(ctx, "Acme", "admin@acme.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	var stable []string // records nobody changes: the reader looks for them
	for i := range 120 {
		stable = append(stable, createRecord(t, s, acme, fmt.Sprintf(`{"n":%d,"stable":true}`, i)))
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	want := make([]map[string]int, 2) // per writer: record id -> last acknowledged n (-1: deleted)
	var paused, writes, reads atomic.Int64
	for w := range want {
		want[w] = map[string]int{}
		s := instances[w%2]
		wg.Go(func() {
			var ids []string
			for i := 1; !stop.Load(); i++ {
				o, err := s.OrganizationByID(ctx, acme.ID)
				if err != nil {
					t.Error(err)
					return
				}
				var id string
				switch {
				case len(ids) < 20 || i%4 == 0:
					if id, _, err = s.CreateRecord(ctx, o, fmt.Appendf(nil, `{"n":%d}`, i)); err == nil {
						ids = append(ids, id)
					}
				case i%5 == 0:
					id, ids = ids[0], ids[1:]
					if err = s.DeleteRecord(ctx, o, id); err == nil {
						i = -1
					} else {
						ids = append(ids, id)
					}
				default:
					id = ids[i%len(ids)]
					_, err = s.ReplaceRecord(ctx, o, id, fmt.Appendf(nil, `{"n":%d}`, i))
				}
				switch {
				case orgd.ErrorCode(err) == orgd.ECONFLICT: // paused: retry shortly
					paused.Add(1)
					time.Sleep(5 * time.Millisecond)
					continue
				case err != nil:
					t.Errorf("write %s: %v", id, err)
					return
				}
				want[w][id] = i
				writes.Add(1)
			}
		})
	}
	for _, s := range instances {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				o, err := s.OrganizationByID(ctx, acme.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.GetRecord(ctx, o, stable[i%len(stable)]); err != nil {
					t.Errorf("read a record from %s.%s on %s (%s): %v", o.Database, o.Collection, o.Deployment, o.Status, err)
					return
				}
				reads.Add(1)
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	before := writes.Load()
	if err := s.Move(ctx, acme.ID, orgd.Placement{Deployment: "east", Tenancy: orgd.TenancyDatabase}); err != nil {
		t.Fatal(err)
	}
	during := writes.Load() - before
	time.Sleep(200 * time.Millisecond) // writes after the move land in the new place
	stop.Store(true)
	wg.Wait()

	st, err := s.MoveStatus(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %d records; %d writes during the move, %d in all, %d reads; writes paused for %v (%d refused meanwhile); checksum %s",
		st.Copied, during, writes.Load(), reads.Load(), st.Paused, paused.Load(), st.Checksum)
	if during == 0 {
		t.Error("no write happened during the move: the test proves nothing")
	}
	o, err := s.OrganizationByID(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Deployment != "east" || o.Tenancy != orgd.TenancyDatabase || o.Database != f.db.Prefix+"org_acme" || !o.Writable() {
		t.Fatalf("after the move: %+v", o)
	}
	got := map[string]bson.M{}
	cur, err := f.client("east").Database(o.Database).Collection(o.Collection).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		got[d["_id"].(string)] = d
	}
	for i, id := range stable {
		if d := got[id]; d == nil || num(d["n"]) != i {
			t.Errorf("stable record %s: %v, want n = %d", id, d, i)
		}
	}
	n := len(stable)
	for _, w := range want {
		for id, v := range w {
			d, ok := got[id]
			switch {
			case v < 0 && ok:
				t.Errorf("record %s was deleted, but the copy has it: %v", id, d)
			case v >= 0 && !ok:
				t.Errorf("record %s (n = %d) is missing from the copy", id, v)
			case v >= 0 && num(d["n"]) != v:
				t.Errorf("record %s: %v in the copy, want n = %d", id, d, v)
			}
			if v >= 0 {
				n++
			}
		}
	}
	if len(docs) != n {
		t.Errorf("the copy holds %d records, want %d", len(docs), n)
	}
	if c, _ := f.docsOn("main", acme.Database, acme.Collection); c != 0 {
		t.Errorf("the source still holds %d documents", c)
	}
	f.mustHold(s)
}

// num returns a stored whole number as an int, whichever BSON type holds it.
func num(v any) int {
	switch n := v.(type) {
	case int32:
		return int(n)
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return -1000
}

func createRecord(t *testing.T, s *mongodb.Store, o *orgd.Organization, body string) string {
	t.Helper()
	id, out, err := s.CreateRecord(context.Background(), o, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := recordID(t, out); got != id {
		t.Fatalf("CreateRecord returned id %q and a record with id %q", id, got)
	}
	return id
}

func recordID(t *testing.T, out []byte) string {
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.ID == "" {
		t.Errorf("record %s: %v", out, err)
	}
	return r.ID
}
