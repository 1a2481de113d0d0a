package mongodb_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/event"
)

// renamesOnCommands returns a store whose client renames the organization
// orgID (through s, on another client), synchronously, before the commands
// named in at run on a tenant collection (org_*): at[i] is the command
// ("find", "insert", "update") before whose i-th run on a tenant collection
// the organization gets names[i]; "+update" renames after an update
// succeeded instead. This is what two renames in a row (each a few hundred
// milliseconds apart) do to a record request that spans both, as seen
// against a live server under load.
func renamesOnCommands(t *testing.T, f *fixture, s *mongodb.Store, orgID string, at, names []string) *mongodb.Store {
	t.Helper()
	var mu sync.Mutex
	armed := false
	step := 0
	fire := func(ctx context.Context, when, cmd string, coll string) {
		mu.Lock()
		defer mu.Unlock()
		if !armed || step >= len(at) || !strings.HasPrefix(coll, orgd.CollectionPrefix) || at[step] != when+cmd {
			return
		}
		name := names[step]
		step++
		if _, err := s.UpdateOrganization(context.WithoutCancel(ctx), orgID, orgd.OrganizationUpdate{Name: &name}); err != nil {
			t.Errorf("rename to %s: %v", name, err)
		}
	}
	colls := map[int64]string{}
	client, err := mongodb.ConnectWith(context.Background(), f.db.URI, 5*time.Second, &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
			mu.Lock()
			colls[e.RequestID] = coll
			mu.Unlock()
			fire(ctx, "", e.CommandName, coll)
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			mu.Lock()
			coll := colls[e.RequestID]
			mu.Unlock()
			fire(ctx, "+", e.CommandName, coll)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	other := f.storeOn(client, "")
	mu.Lock()
	armed = true
	mu.Unlock()
	return other
}

// TestRecordRequestsRacingTwoRenames checks that a record request during which its
// organization is renamed twice must not answer "not found" for a record
// that exists (README: a record read or write that finds nothing where the
// organization was "answer[s] 409, never 'not found'"), must not report as
// not found a write it made, and a record it creates must be found where the
// organization is afterwards; with deletes and imports too, and renames that
// come back to the first name.
func TestRecordRequestsRacingTwoRenames(t *testing.T) {
	ctx := context.Background()
	there := []string{"Roadrunner", "Coyote"}
	back := []string{"Roadrunner", "Acme"}
	cases := []struct {
		name    string
		at      []string
		names   []string
		do      func(s *mongodb.Store, o *orgd.Organization, id string) (string, error)
		want    string // the record as read afterwards; "" for as created
		gone    bool   // the record must be gone afterwards
		final   string
		records int
	}{
		{"get, not found twice", []string{"find", "find"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			_, err := s.GetRecord(ctx, o, id)
			return id, err
		}, "", false, "coyote", 1},
		{"patch, not found twice", []string{"find", "find"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			_, err := s.PatchRecord(ctx, o, id, []byte(`{"m":2}`))
			return id, err
		}, `"n":1,"m":2}`, false, "coyote", 1},
		{"patch, settled after a second rename", []string{"+update", "find"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			_, err := s.PatchRecord(ctx, o, id, []byte(`{"m":2}`))
			return id, err
		}, `"n":1,"m":2}`, false, "coyote", 1},
		{"replace, settled after a second rename", []string{"+update", "update"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			_, err := s.ReplaceRecord(ctx, o, id, []byte(`{"r":3}`))
			return id, err
		}, `"r":3}`, false, "coyote", 1},
		{"create, settled after a second rename", []string{"insert", "insert"}, there, func(s *mongodb.Store, o *orgd.Organization, _ string) (string, error) {
			id, _, err := s.CreateRecord(ctx, o, []byte(`{"c":4}`))
			return id, err
		}, `"c":4}`, false, "coyote", 2},
		{"delete, not found twice", []string{"delete", "delete"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			return id, s.DeleteRecord(ctx, o, id)
		}, "", true, "coyote", 0},
		{"delete, settled after a second rename", []string{"+delete", "delete"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			return id, s.DeleteRecord(ctx, o, id)
		}, "", true, "coyote", 0},
		{"import, settled after a second rename", []string{"insert", "insert"}, there, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			rep, err := s.ImportRecords(ctx, o, strings.NewReader("{\"i\":1}\n{\"i\":2}\n"))
			if err == nil && rep.Imported != 2 {
				t.Errorf("imported %d", rep.Imported)
			}
			return id, err
		}, "", false, "coyote", 3},
		{"create, renamed away and back", []string{"+insert", "insert"}, back, func(s *mongodb.Store, o *orgd.Organization, _ string) (string, error) {
			id, _, err := s.CreateRecord(ctx, o, []byte(`{"c":4}`))
			return id, err
		}, "", false, "acme", 2},
		{"replace, renamed away and back", []string{"+update", "update"}, back, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			_, err := s.ReplaceRecord(ctx, o, id, []byte(`{"r":3}`))
			return id, err
		}, "", false, "acme", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			s := f.store("")
			o := mustCreate(t, s, "Acme", "a@x.test")
			id := createRecord(t, s, o, `{"n":1}`)
			other := renamesOnCommands(t, f, s, o.ID, c.at, c.names)
			got, err := c.do(other, o, id)
			if err != nil {
				t.Fatalf("%v", err)
			}
			now, err := s.OrganizationByName(ctx, c.final)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := s.GetRecord(ctx, now, got)
			switch {
			case c.gone && orgd.ErrorCode(err) != orgd.ENOTFOUND:
				t.Errorf("record %s after the renames: %v, want not found", got, err)
			case !c.gone && err != nil:
				t.Errorf("record %s after the renames: %v", got, err)
			case c.want != "" && !strings.HasSuffix(string(rec), c.want):
				t.Errorf("record %s, want it to end with %s", rec, c.want)
			}
			page, err := s.ListRecords(ctx, now, orgd.RecordQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) != c.records {
				t.Errorf("%d records, want %d", len(page.Records), c.records)
			}
			for _, stale := range []string{"org_acme", "org_roadrunner", "org_coyote"} {
				if "org_"+c.final == stale {
					continue
				}
				if n, _ := f.docs(now.Database, stale); n != 0 {
					t.Errorf("the old %s holds %d documents", stale, n)
				}
			}
		})
	}
}

// TestReadsRacingASecondRename checks that a list or an export that reads
// where the data is (after a first rename, which its organization's copy
// predates) and finds it moved again before it looks follows it, as a get
// does: an empty page or an empty export would stand for records moved on.
func TestReadsRacingASecondRename(t *testing.T) {
	ctx := context.Background()
	for name, read := range map[string]func(*mongodb.Store, *orgd.Organization) (int, error){
		"list": func(s *mongodb.Store, o *orgd.Organization) (int, error) {
			page, err := s.ListRecords(ctx, o, orgd.RecordQuery{Limit: 10})
			if err != nil {
				return 0, err
			}
			return len(page.Records), nil
		},
		"export": func(s *mongodb.Store, o *orgd.Organization) (int, error) {
			var out bytes.Buffer
			err := s.ExportRecords(ctx, o, &out)
			return bytes.Count(out.Bytes(), []byte("\n")), err
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			s := f.store("")
			o := mustCreate(t, s, "Acme", "a@x.test")
			createRecord(t, s, o, `{"n":1}`)
			first := "Roadrunner"
			if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: &first}); err != nil {
				t.Fatal(err)
			}
			other := renamesOnCommands(t, f, s, o.ID, []string{"find"}, []string{"Coyote"})
			if n, err := read(other, o); err != nil || n != 1 {
				t.Errorf("across a second rename: %d records, %v; want 1", n, err)
			}
		})
	}
}

// TestCreateRacingManyRenames renames the organization before each insert
// of a create, seven times: the create follows its organization's data for
// as long as renames keep coming (within settleWait), and is answered as
// created, found once where the data is in the end. A bound on the number
// of hops answered 409 for a record it had stored, which a client then
// creates twice.
func TestCreateRacingManyRenames(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.store("")
	o := mustCreate(t, s, "Acme", "a@x.test")
	var at, names []string
	for i := range 7 {
		at, names = append(at, "insert"), append(names, fmt.Sprintf("name%d", i))
	}
	other := renamesOnCommands(t, f, s, o.ID, at, names)
	id, _, err := other.CreateRecord(ctx, o, []byte(`{"c":1}`))
	if err != nil {
		t.Fatalf("create across seven renames: %v", err)
	}
	now, err := s.OrganizationByName(ctx, "name6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, now, id); err != nil {
		t.Errorf("record %s after the renames: %v", id, err)
	}
	stale := []string{"org_acme"}
	for _, name := range names[:6] {
		stale = append(stale, "org_"+name)
	}
	for _, c := range stale {
		if n, _ := f.docs(now.Database, c); n != 0 {
			t.Errorf("the old %s holds %d documents", c, n)
		}
	}
}
