package embeddb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	_ "modernc.org/sqlite"
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

// TestDirInUse checks that a second server on a data directory in use is
// refused with a clear error, and starts once the first has stopped.
func TestDirInUse(t *testing.T) {
	dir := t.TempDir()
	first, err := embeddb.Start(embeddb.Config{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := embeddb.Start(embeddb.Config{Dir: dir, Addr: "127.0.0.1:0"}); !errors.Is(err, embeddb.ErrDirInUse) {
		t.Fatalf("second server on the directory: %v, want ErrDirInUse", err)
	} else {
		t.Logf("refused: %v", err)
	}
	stop := func(s *embeddb.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stop(first)
	second, err := embeddb.Start(embeddb.Config{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	stop(second)
}

// TestSocket checks that without an address the server listens on a Unix
// socket in its directory that only the owner may use (in a directory of
// mode 0700, whatever mode it had), that clients reach
// it through its URI, and that a socket left by a process that died does
// not stop the next start.
func TestSocket(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if err := os.Mkdir(filepath.Join(dir, "socket"), 0o755); err != nil { // as a loose umask would leave it
		t.Fatal(err)
	}
	for round := range 2 {
		s, err := embeddb.Start(embeddb.Config{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		path, _ := embeddb.SocketPath(dir)
		if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("round %d: socket %v, %v; want a socket with mode 0600", round, fi, err)
		}
		if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
			t.Errorf("round %d: socket directory %v, %v; want mode 0700", round, di, err)
		}
		client, err := mongo.Connect(options.Client().ApplyURI(s.URI()).SetTimeout(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Ping(ctx, nil); err != nil {
			t.Errorf("round %d: ping over %s: %v", round, s.URI(), err)
		}
		_ = client.Disconnect(ctx)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := s.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := os.WriteFile(path, nil, 0o600); err != nil { // as a killed process leaves it
			t.Fatal(err)
		}
	}
	long := filepath.Join(dir, strings.Repeat("d", 100))
	if _, err := embeddb.Start(embeddb.Config{Dir: long}); !errors.Is(err, embeddb.ErrPathTooLong) {
		t.Errorf("a directory too deep for a socket: %v, want ErrPathTooLong", err)
	}
	if _, err := os.Stat(long); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused directory was created: %v", err)
	}
}

// TestDataDirOwnerOnly checks that a data directory other users could read
// (as mkdir or a volume leaves it) is restricted to its owner: the database
// files in it are created readable by all.
func TestDataDirOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := embeddb.Start(embeddb.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory %v, %v; want mode 0700", fi, err)
	}
}

// TestSharedDataDirRefused checks that a directory everyone writes to (as
// /tmp is) is refused as a data directory rather than restricted to orgd's
// user, which would take it from everyone else.
func TestSharedDataDirRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o777 | os.ModeSticky, 0o777} {
		dir := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if s, err := embeddb.Start(embeddb.Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "shared by all users") {
			if err == nil {
				_ = s.Stop(context.Background())
			}
			t.Errorf("mode %v: %v, want it refused as shared", mode, err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode()&(os.ModePerm|os.ModeSticky) != mode {
			t.Errorf("mode %v: now %v, %v; want it left as it was", mode, fi.Mode(), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("mode %v: left %d entries in it", mode, len(entries))
		}
	}
}

// TestDirNames checks that a data directory's path reaches the driver
// whole whatever its characters, and that one it cannot name is refused
// with an error that says why.
func TestDirNames(t *testing.T) {
	for _, dir := range []string{"/srv/orgd@1", "/srv/a+b", "/srv/a b", "/srv/a&b=c", "/srv/plain", "/srv/été"} {
		p := dir + "/socket/mongodb.sock"
		cs, err := connstring.ParseAndValidate(embeddb.SocketURI(p))
		if err != nil || len(cs.Hosts) != 1 || cs.Hosts[0] != p || cs.Username != "" {
			t.Errorf("%s: %s names %q (user %q), %v; want %q", dir, embeddb.SocketURI(p), cs.Hosts, cs.Username, err, p)
		}
	}
	for _, name := range []string{"a:b", "a%b", "a?b", "a#b", "a*b", "[old]", `a\b`} {
		dir := filepath.Join(t.TempDir(), name)
		if _, err := embeddb.Start(embeddb.Config{Dir: dir}); !errors.Is(err, embeddb.ErrDirName) {
			t.Errorf("%s: %v, want ErrDirName", name, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused directory was created: %v", name, err)
		}
	}
	// On a port, the path never goes into an address.
	s, err := embeddb.Start(embeddb.Config{Dir: filepath.Join(t.TempDir(), "orgd:1"), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("a path with ':' and a port: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestUnusableAddr checks that an address that cannot be listened on for
// another reason than being taken is not reported as taken.
func TestUnusableAddr(t *testing.T) {
	_, err := embeddb.Start(embeddb.Config{Dir: t.TempDir(), Addr: "127.0.0.1:99999"})
	if !errors.Is(err, embeddb.ErrAddrUnusable) || errors.Is(err, embeddb.ErrAddrInUse) {
		t.Errorf("start on port 99999: %v, want an unusable address, not a taken one", err)
	}
}

// TestStartAfterAKillMidCreate checks that a database file left without
// FerretDB's metadata table, as a kill between its two steps of creating a
// database leaves it, does not keep the server from starting, and that the
// other databases keep their data.
func TestStartAfterAKillMidCreate(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	start := func() (*embeddb.Server, *mongo.Client) {
		t.Helper()
		s, err := embeddb.Start(embeddb.Config{Dir: dir, Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := mongo.Connect(options.Client().ApplyURI(s.URI()))
		if err != nil {
			t.Fatal(err)
		}
		return s, c
	}
	s, c := start()
	if _, err := c.Database("keep").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	_ = c.Disconnect(ctx)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// What FerretDB's first step leaves: the file, in WAL mode, no table.
	half := filepath.Join(dir, "half.sqlite")
	db, err := sql.Open("sqlite", half)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA journal_mode=wal"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	s, c = start()
	defer func() { _ = c.Disconnect(ctx); _ = s.Stop(ctx) }()
	if n, err := c.Database("keep").Collection("c").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("keep.c: %d documents, %v; want 1", n, err)
	}
	if _, err := c.Database("half").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Errorf("the database whose creation was cut short, created again: %v", err)
	}
}
