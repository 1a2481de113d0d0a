// Package mongodb stores orgd's metadata and tenant collections in MongoDB
// (or anything that speaks its wire protocol). It is the one place where
// organization names become collection names.
package mongodb

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// Master database collections. Every document is keyed by _id: on FerretDB's
// SQLite backend secondary indexes are not used by queries, and a unique key
// is only reliable as an insert of an _id.
const (
	collOrgs    = "organizations" // _id: organization id
	collAdmins  = "admins"        // _id: admin id
	collNames   = "org_names"     // _id: normalized organization name -> owner
	collEmails  = "admin_emails"  // _id: normalized email -> owner
	collOps     = "operations"    // _id: organization id -> the operation in progress
	collTakes   = "takeovers"     // _id: op id/epoch: who took an abandoned operation over
	collChanges = "changes"       // recent master writes, for other instances' caches
	collRecent  = "recent_ops"    // tombstones of operations that ended lately
)

// Config names the databases a Store uses.
type Config struct {
	MasterDB string
	TenantDB string
	// TenantDBs is how many databases the collection model spreads new
	// organizations' collections over: TenantDB itself when 1 (or 0), else
	// TenantDB_00, TenantDB_01, ... chosen from the organization's id. Some
	// backends pay for every collection of a database on each query.
	TenantDBs int
	// Tenancy is the model of new organizations: "collection" (the default)
	// or "database".
	Tenancy string
	// TenantDBPrefix starts the name of every per-organization database
	// (tenancy "database"): <prefix>org_<name>.
	TenantDBPrefix string
	// Deployment names the deployment of the client given to NewStore, which
	// holds the master database; empty means "main".
	Deployment string
	// Deployments are the other deployments organizations may be placed on,
	// by name: one client each, shared by every request.
	Deployments map[string]*mongo.Client
	// MoveDrain is how long a move waits, after pausing an organization's
	// writes, for writes already under way to land, and after switching, for
	// reads of the old copy to finish; zero means 2 s.
	MoveDrain time.Duration
	// Lease is how long an operation may run before it must renew its claim;
	// zero means 30 s.
	Lease time.Duration
	// Grace is how long past an expired lease another process waits before
	// taking the operation over, so that writes a dead process had already
	// sent have landed; zero means 10 s. Set it above the driver timeout.
	Grace time.Duration
	// CopyBatch is the number of documents copied per batch when a collection
	// moves between databases; zero means 1,000.
	CopyBatch int
	// CacheSync is how often the cache of organizations, admins and keys
	// learns the changes other instances made: the longest such a change goes
	// unseen here. Zero disables the cache.
	CacheSync time.Duration
	// CacheSize bounds the cache's entries; zero means 100,000.
	CacheSize int
	// RevocationTTL is how long a revoked session is remembered: at least the
	// longest access token lifetime plus the clock skew tolerated; zero means 24h5m.
	RevocationTTL time.Duration
	// ListDatabases, when set, lists the databases of the client given to
	// NewStore in place of the listDatabases command, which the reconciler
	// needs to find per-organization databases: the embedded database
	// computes every database's size for that command (embeddb.Server.DatabaseNames).
	ListDatabases func(context.Context) ([]string, error)
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Reconciled, when set, is told about each reconciler round: whether it
	// was a full sweep, how many things it repaired, and its error.
	Reconciled func(sweep bool, repaired int, err error)
}

// Store keeps organizations, admins and tenant collections.
type Store struct {
	client   *mongo.Client // the master database's deployment
	master   *mongo.Database
	colls    map[string]*mongo.Collection // the master's, made once: a handle costs allocations
	tenant   *mongo.Database
	deps     *deployments
	tenancy  string
	dbPrefix string
	drain    time.Duration
	counts   tenantCounts
	bg       background
	lease    time.Duration
	grace    time.Duration
	batch    int
	now      func() time.Time
	log      *slog.Logger
	hooks    Hooks
	cache    *cache
	tombs    time.Duration // how long a tombstone proves an operation ended: see quiet
	spread   int           // TenantDBs
	listDBs  func(context.Context) ([]string, error)

	idMu    sync.Mutex // guards entropy, which keeps record ids in order within a millisecond
	entropy io.Reader

	revocationTTL time.Duration
	eventIDs      eventIDs
	outbox        auditOutbox

	reconciled func(sweep bool, repaired int, err error)

	pruneMu    sync.Mutex
	auditSwept time.Time // when the pruner last read the whole audit log

	leftoverMu sync.Mutex
	leftovers  map[nsKey]time.Time // empty orphan databases, and when a sweep first found them so
}

// masterColl returns the master database's collection name.
func (s *Store) masterColl(name string) *mongo.Collection {
	if c, ok := s.colls[name]; ok {
		return c
	}
	return s.master.Collection(name)
}

// Hooks lets tests interrupt a lifecycle operation before any of its steps,
// or fail a revocation's publication.
type Hooks struct {
	// BeforeStep, when set, runs before each step; an error aborts the
	// operation there. For a revocation (op "revoke", step "publish") it
	// stands for the publication's failure.
	BeforeStep func(op, step string) error
	// AfterWrite, when set, runs after each write of an operation's record
	// that landed, with the step the operation is at; an error stands for
	// an answer the database sent but the client never got.
	AfterWrite func(op, step string) error
}

// NewStore returns a Store over client.
func NewStore(client *mongo.Client, cfg Config) *Store {
	s := &Store{
		client:   client,
		master:   client.Database(cfg.MasterDB),
		tenant:   client.Database(cfg.TenantDB),
		deps:     newDeployments(cfg.Deployment, client, cfg.Deployments),
		tenancy:  cfg.Tenancy,
		spread:   max(cfg.TenantDBs, 1),
		dbPrefix: cfg.TenantDBPrefix,
		listDBs:  cfg.ListDatabases,
		drain:    cfg.MoveDrain,
		lease:    cfg.Lease,
		grace:    cfg.Grace,
		batch:    cfg.CopyBatch,
		now:      cfg.Now,
		log:      cfg.Logger,

		reconciled: cfg.Reconciled,
	}
	s.entropy = ulid.Monotonic(rand.Reader, 0)
	s.colls = map[string]*mongo.Collection{}
	for _, name := range []string{collOrgs, collAdmins, collNames, collEmails, collOps, collTakes, collChanges, collRecent,
		collSessions, collRefresh, collSpent, collRevoked, collDeployments, collMoves, collAudit} {
		s.colls[name] = s.master.Collection(name)
	}
	if s.tenancy == "" {
		s.tenancy = tenancyCollection
	}
	if s.drain <= 0 {
		s.drain = 2 * time.Second
	}
	s.bg.ctx, s.bg.cancel = context.WithCancel(context.Background())
	if s.lease <= 0 {
		s.lease = 30 * time.Second
	}
	if s.grace <= 0 {
		s.grace = 10 * time.Second
	}
	if s.batch <= 0 {
		s.batch = 1000
	}
	if s.revocationTTL = cfg.RevocationTTL; s.revocationTTL <= 0 {
		s.revocationTTL = 24*time.Hour + 5*time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	clock := s.now // BSON dates hold milliseconds: keep what is returned equal to what is stored
	s.now = func() time.Time { return clock().UTC().Truncate(time.Millisecond) }
	s.cache = newCache(cfg.CacheSync, cfg.CacheSize, s.now)
	s.tombs = recentWindow(cfg.CacheSync)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// SetHooks installs test hooks; production code never calls it.
func (s *Store) SetHooks(h Hooks) { s.hooks = h }

// Connect opens a client to uri with the options orgd relies on: majority
// writes, retryable writes and a bounded time for every operation.
func Connect(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	return ConnectWith(ctx, uri, timeout, nil)
}

// ConnectWith is Connect with a command monitor, which sees every command the
// client sends (for metrics); nil means none.
func ConnectWith(ctx context.Context, uri string, timeout time.Duration, monitor *event.CommandMonitor) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(uri).
		SetAppName("orgd").
		SetRetryWrites(true).
		SetRetryReads(true).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetTimeout(timeout)
	if opts.WriteConcern == nil {
		opts.SetWriteConcern(writeconcern.Majority())
	}
	if monitor != nil {
		opts.SetMonitor(monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		// The driver's message quotes what it could not parse: a password
		// or an option's secret value.
		return nil, errors.New("connect to MongoDB: the URI is not usable: check its syntax and its options; " +
			"a % in a password or an option is written %25")
	}
	return client, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.client.Ping(ctx, readpref.Primary()))
}

// TenantDatabase is the name of the database holding tenant collections.
func (s *Store) TenantDatabase() string { return s.tenant.Name() }

// newID returns a new unique, time-ordered identifier.
func (s *Store) newID() string {
	return ulid.MustNew(ulid.Timestamp(s.now()), rand.Reader).String()
}

// tenantCollection is the collection holding an organization's data: every
// access to tenant data goes through here, so that placement decides once. It
// is on the organization's deployment, through that deployment's shared
// client, in its tenancy model's database. Writes must also check
// o.Writable(): a moving organization's writes are paused for a short window.
func (s *Store) tenantCollection(o *orgd.Organization) *mongo.Collection {
	c, err := s.deps.client(o.Deployment)
	if err != nil {
		s.log.Error("organization placed on a deployment that is not configured", "org_id", o.ID, "deployment", o.Deployment)
		c = s.deps.missing
	}
	return c.Database(o.Database).Collection(o.Collection)
}
