package mongodb_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestImportBatchBytes checks that an import inserts a batch once it holds
// 4 MiB of input, however few lines that is, so that an import of large
// lines never holds hundreds of them decoded at once.
func TestImportBatchBytes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var inserts atomic.Int32
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "insert" {
			inserts.Add(1)
		}
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(f.db.URI).SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	s := mongodb.NewStore(client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB})
	o, err := s.CreateOrganization(ctx, "acme", "a@acme.test", "hash")
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for i := range 12 { // 900 KiB each: 10.5 MiB, one insert of 12 without the bound
		fmt.Fprintf(&body, `{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", 900<<10))
	}
	before := inserts.Load()
	rep, err := s.ImportRecords(ctx, o, strings.NewReader(body.String()))
	if err != nil || rep.Imported != 12 {
		t.Fatalf("import: %+v, %v", rep, err)
	}
	if n := inserts.Load() - before; n != 3 {
		t.Errorf("%d inserts, want 3 (5, 5 and 2 lines)", n)
	}
}
