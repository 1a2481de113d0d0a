package mongodb_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/orgd/orgd"
)

// TestRev8ExportRacingASecondRename: as a list, an export that finds
// nothing where its data was must not come out empty for records moved on.
func TestRev8ExportRacingASecondRename(t *testing.T) {
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
	var out bytes.Buffer
	if err := other.ExportRecords(ctx, o, &out); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out.Bytes(), []byte("\n")); n != 1 {
		t.Errorf("an export across a second rename: %d records, want 1", n)
	}
}
