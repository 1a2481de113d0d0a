package mongodb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
)

// TestRev8MoreRequestsRacingTwoRenames: deletes and imports across two
// renames, and renames that come back to the first name.
func TestRev8MoreRequestsRacingTwoRenames(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		at      []string
		names   []string
		do      func(s *mongodb.Store, o *orgd.Organization, id string) (string, error)
		gone    bool // the record must be gone afterwards
		final   string
		records int
	}{
		{"delete, not found twice", []string{"delete", "delete"}, []string{"Roadrunner", "Coyote"}, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			return id, s.DeleteRecord(ctx, o, id)
		}, true, "coyote", 0},
		{"delete, settled after a second rename", []string{"+delete", "delete"}, []string{"Roadrunner", "Coyote"}, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			return id, s.DeleteRecord(ctx, o, id)
		}, true, "coyote", 0},
		{"import, settled after a second rename", []string{"insert", "insert"}, []string{"Roadrunner", "Coyote"}, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			rep, err := s.ImportRecords(ctx, o, strings.NewReader("{\"i\":1}\n{\"i\":2}\n"))
			if err == nil && rep.Imported != 2 {
				t.Errorf("imported %d", rep.Imported)
			}
			return id, err
		}, false, "coyote", 3},
		{"create, renamed away and back", []string{"+insert", "insert"}, []string{"Roadrunner", "Acme"}, func(s *mongodb.Store, o *orgd.Organization, _ string) (string, error) {
			id, _, err := s.CreateRecord(ctx, o, []byte(`{"c":4}`))
			return id, err
		}, false, "acme", 2},
		{"replace, renamed away and back", []string{"+update", "update"}, []string{"Roadrunner", "Acme"}, func(s *mongodb.Store, o *orgd.Organization, id string) (string, error) {
			_, err := s.ReplaceRecord(ctx, o, id, []byte(`{"r":3}`))
			return id, err
		}, false, "acme", 1},
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
			_, err = s.GetRecord(ctx, now, got)
			if c.gone && orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("record %s after the renames: %v, want not found", got, err)
			} else if !c.gone && err != nil {
				t.Errorf("record %s after the renames: %v", got, err)
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
