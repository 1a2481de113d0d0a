package embeddb_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orgd/orgd/embeddb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDatabaseNames checks that the directory gives the databases the
// listDatabases command gives, as they are created and dropped.
func TestDatabaseNames(t *testing.T) {
	edb, err := embeddb.Start(embeddb.Config{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = edb.Stop(ctx)
	})
	client, err := mongo.Connect(options.Client().ApplyURI(edb.URI()).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) }) // before the server stops
	ctx := context.Background()

	same := func(when string) {
		t.Helper()
		want, err := client.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := edb.DatabaseNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: DatabaseNames = %q, listDatabases = %q", when, got, want)
		}
	}
	same("new server")
	for _, db := range []string{"orgd_master", "orgd_org_acme", "orgd-org_b2", "x"} {
		if err := client.Database(db).CreateCollection(ctx, "c"); err != nil {
			t.Fatal(err)
		}
	}
	same("after creating four")
	if err := client.Database("orgd_org_acme").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	same("after dropping one")
	if got, _ := edb.DatabaseNames(ctx); len(got) != 3 {
		t.Errorf("DatabaseNames after creating four and dropping one = %q", got)
	}
}
