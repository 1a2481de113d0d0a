package mongodb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/orgd/orgd"
)

// TestListPagesAreBounded lists an organization whose records hold about
// 7 MiB: asked for 100, a page stops at a few MiB and says where the next
// begins, and the pages together hold every record once.
func TestListPagesAreBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	o := mustCreate(t, s, "acme", "a@acme.test")
	big := strings.Repeat("x", 900_000)
	want := map[string]bool{}
	for i := range 8 {
		id, _, err := s.CreateRecord(ctx, o, fmt.Appendf(nil, `{"n":%d,"blob":%q}`, i, big))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	seen, pages := map[string]bool{}, 0
	for after := ""; ; pages++ {
		page, err := s.ListRecords(ctx, o, orgd.RecordQuery{Limit: 100, After: after})
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, r := range page.Records {
			size += len(r)
			var rec struct{ ID string }
			if err := json.Unmarshal(r, &rec); err != nil || seen[rec.ID] {
				t.Fatalf("record %q on page %d: %v, seen before %v", rec.ID, pages, err, seen[rec.ID])
			}
			seen[rec.ID] = true
		}
		if size > 5<<20 {
			t.Errorf("page %d holds %d bytes of records", pages, size)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if len(seen) != len(want) || pages < 1 {
		t.Errorf("%d records over %d pages, want %d over more than one", len(seen), pages+1, len(want))
	}
}
