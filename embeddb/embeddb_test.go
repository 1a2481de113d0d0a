package embeddb_test

import (
	"context"
	"slices"
	"testing"

	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestDatabaseNames checks that the directory gives the databases the
// listDatabases command gives, as they are created and dropped.
func TestDatabaseNames(t *testing.T) {
	srv := mongotest.NewServer(t) // an embedded server of the test's own
	ctx := context.Background()
	same := func(when string) {
		t.Helper()
		want, err := srv.Client.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := srv.ListDatabases(ctx)
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
		if err := srv.Client.Database(db).CreateCollection(ctx, "c"); err != nil {
			t.Fatal(err)
		}
	}
	same("after creating four")
	if err := srv.Client.Database("orgd_org_acme").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	same("after dropping one")
	if got, _ := srv.ListDatabases(ctx); len(got) != 3 {
		t.Errorf("DatabaseNames after creating four and dropping one = %q", got)
	}
}
