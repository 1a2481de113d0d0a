// Package mongotest gives tests a real database: one embedded FerretDB per
// test binary, and a fresh pair of master and tenant databases per test,
// dropped at cleanup.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd/embeddb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// server is the embedded database shared by the tests of one binary.
type server struct {
	once   sync.Once
	dir    string
	db     *embeddb.Server
	client *mongo.Client
	err    error
}

var shared server // one per test binary, started on first use, stopped by Main

// Main runs the tests of a package and then stops the shared server; call it
// from TestMain: os.Exit(mongotest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = shared.client.Disconnect(ctx)
		_ = shared.db.Stop(ctx)
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

// URI returns the address of the shared database: MONGODB_URI when set, so
// the suite can run against a real MongoDB, else the embedded server.
func URI(t testing.TB) string {
	t.Helper()
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		return uri
	}
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "orgd-mongotest-")
		if shared.err != nil {
			return
		}
		shared.db, shared.err = embeddb.Start(embeddb.Config{Dir: shared.dir, Addr: "127.0.0.1:0"})
		if shared.err != nil {
			return
		}
		shared.client, shared.err = mongo.Connect(options.Client().ApplyURI(shared.db.URI()))
	})
	if shared.err != nil {
		t.Fatalf("start embedded database: %v", shared.err)
	}
	return shared.db.URI()
}

// DB is a fresh pair of databases for one test.
type DB struct {
	Client   *mongo.Client
	URI      string
	MasterDB string
	TenantDB string
	// Prefix starts the names of the test's per-organization databases
	// (tenancy "database"); they are dropped at cleanup too.
	Prefix string
	// ListDatabases lists the server's databases as orgd does on its embedded
	// database, from the files (mongodb.Config.ListDatabases); nil with
	// MONGODB_URI, where the listDatabases command is cheap.
	ListDatabases func(context.Context) ([]string, error)
}

// New returns a client and two new database names, both dropped when the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	uri := URI(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	d := &DB{Client: client, URI: uri, MasterDB: fmt.Sprintf("t_%s_master", suffix), TenantDB: fmt.Sprintf("t_%s_tenants", suffix),
		Prefix: fmt.Sprintf("t_%s_", suffix)}
	if shared.db != nil { // the embedded server, which URI starts only without MONGODB_URI
		d.ListDatabases = shared.db.DatabaseNames
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.Database(d.MasterDB).Drop(ctx)
		_ = client.Database(d.TenantDB).Drop(ctx)
		dropPrefixed(ctx, client, d.ListDatabases, d.Prefix)
		_ = client.Disconnect(ctx)
	})
	return d
}

// DropPrefixed drops every database of client whose name starts with prefix.
func DropPrefixed(ctx context.Context, client *mongo.Client, prefix string) {
	dropPrefixed(ctx, client, nil, prefix)
}

// dropPrefixed is DropPrefixed listing the databases with list, if not nil.
func dropPrefixed(ctx context.Context, client *mongo.Client, list func(context.Context) ([]string, error), prefix string) {
	if list == nil {
		list = func(ctx context.Context) ([]string, error) { return client.ListDatabaseNames(ctx, bson.D{}) }
	}
	names, _ := list(ctx)
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			_ = client.Database(n).Drop(ctx)
		}
	}
}

// Server is a database server of a test's own, for tests that place tenants
// on several deployments.
type Server struct {
	URI    string
	Client *mongo.Client
	// ListDatabases lists the server's databases from their files, as orgd
	// does on its embedded database.
	ListDatabases func(context.Context) ([]string, error)
}

// NewServer starts an embedded database server for t on a free port, with its
// files in a temporary directory; it is stopped when t ends. Start several
// one after the other, not at once.
func NewServer(t testing.TB) *Server {
	t.Helper()
	edb, err := embeddb.Start(embeddb.Config{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start embedded database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = edb.Stop(ctx)
	})
	client, err := mongo.Connect(options.Client().ApplyURI(edb.URI()).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) }) // before the server stops: it waits for clients
	return &Server{URI: edb.URI(), Client: client, ListDatabases: edb.DatabaseNames}
}
