package mongodb_test

import (
	"context"
	"testing"

	"github.com/orgd/orgd"
)

// TestRev8ListRacingASecondRename: a list that reads where the data is (a
// first rename, which its organization's copy predates) and finds it moved
// again before it looks must not answer an empty page, as a get follows it.
func TestRev8ListRacingASecondRename(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.store("")
	o := mustCreate(t, s, "Acme", "a@x.test")
	createRecord(t, s, o, `{"n":1}`)
	name := "Roadrunner"
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	other := renamesOnCommands(t, f, s, o.ID, []string{"find"}, []string{"Coyote"})
	page, err := other.ListRecords(ctx, o, orgd.RecordQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 1 {
		t.Errorf("a list across a second rename: %d records, want 1", len(page.Records))
	}
}
