package main

import (
	"cmp"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const benchPassword = "bench password 1"

// benchTokenTTL is how long the tokens the bench mints (once, as it seeds or
// loads the organizations) pass: its server is started with this lifetime,
// since a server caps every token at the lifetime configured on it, and
// orgd's default, 15 minutes, is shorter than seeding 10,000 organizations
// (up to 80 minutes) and the measurements after it (30 more).
const benchTokenTTL = 24 * time.Hour

// benchServerEnv is the whole configuration of the server the bench starts.
// addr is its API's listen address, embeddedAddr its embedded database's
// ("": its socket, whatever this shell says).
func benchServerEnv(tenantDBs int, addr, embeddedAddr, dir, secret string, bcryptCost int, masterDB, tenantDB string) []string {
	return []string{fmt.Sprintf("ORGD_TENANT_DBS=%d", tenantDBs), "ORGD_ADDR=" + addr, "ORGD_DATA_DIR=" + dir, "ORGD_EMBEDDED_ADDR=" + embeddedAddr,
		"ORGD_JWT_SECRET=" + secret, "ORGD_TOKEN_TTL=" + benchTokenTTL.String(), fmt.Sprintf("ORGD_BCRYPT_COST=%d", bcryptCost), "ORGD_LOG_LEVEL=error",
		"ORGD_MASTER_DB=" + masterDB, "ORGD_TENANT_DB=" + tenantDB}
}

// benchOrg is a seeded organization and what requests need to reach it.
type benchOrg struct {
	renaming atomic.Bool
	written  atomic.Bool // records were added to it
	mu       sync.Mutex
	name     string
	org      *orgd.Organization
	records  []string
	token    string
	session  string // the token's
}

// mint gives the organization's admin a token of a login of its own, as
// login would.
func (o *benchOrg) mint(tokens *auth.Tokens) (err error) {
	o.session = "bench-" + randomHex(8)
	o.token, _, err = tokens.Issue(o.org.AdminID, o.org.ID, o.session)
	return err
}

// renamed records the organization's name and collection now.
func (o *benchOrg) renamed(name, collection string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.name, o.org.Collection = name, collection
}

func (o *benchOrg) currentName() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.name
}

// benchEnv is a running server and the clients that drive and check it.
type benchEnv struct {
	srv     *benchServer
	client  benchDoer // drives the scenarios
	tag     string    // makes the names this run creates unique in a reused data directory
	http    *http.Client
	db      *mongo.Client
	master  *mongo.Database
	raw     *mongo.Database
	store   *mongodb.Store
	orgs    []*benchOrg
	created int // counter for unique names
	retries atomic.Int64
	// renamesFailed counts the renames that failed: the server may finish
	// them afterwards, under names the bench then learns (quiesce).
	renamesFailed atomic.Int64
	mu            sync.Mutex
}

// freeLoopbackPort is a loopback address whose port nothing listens on.
func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func runBench(ctx context.Context, bc benchConfig, progress func(string, ...any)) (_ *benchReport, err error) {
	dir := bc.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "orgd-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	secret := randomHex(32)
	suffix := randomHex(4)
	masterDB, tenantDB := "orgd_master", "orgd_tenants"
	// The server's API is reached as the baseline reaches the database: on
	// a Unix socket, or over TCP on loopback (the embedded database too).
	addr, embeddedAddr := "127.0.0.1:0", ""
	if bc.transport == "unix" {
		sockDir, err := os.MkdirTemp("", "orgdb-") // short: a socket's path is at most 103 bytes
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(sockDir)
		addr = "unix:" + filepath.Join(sockDir, "api.sock")
	}
	uri, where := bc.mongoURI, "the embedded database (FerretDB, SQLite)"
	switch {
	case uri == "" && bc.transport == "tcp":
		// A port of its own, kept across the restart after seeding.
		if embeddedAddr, err = freeLoopbackPort(); err != nil {
			return nil, err
		}
		uri = "mongodb://" + embeddedAddr + "/"
	case uri == "": // where the server's embedded database listens by default: its socket
		p, err := embeddb.SocketPath(dir)
		if err != nil {
			return nil, err
		}
		uri = embeddb.SocketURI(p)
	default: // never touch real data: fresh databases, dropped at the end
		where = "MONGODB_URI"
		masterDB, tenantDB = "bench_"+suffix+"_master", "bench_"+suffix+"_tenants"
	}
	if bc.dataDir != "" { // once the socket's path is known to fit: not left behind else
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	// The store that seeds places organizations as the server would.
	tenantDBs := config{MongoURI: bc.mongoURI}.tenantDBs()
	srv := &benchServer{env: benchServerEnv(tenantDBs, addr, embeddedAddr, dir, secret, bc.bcryptCost, masterDB, tenantDB)}
	// The bound is measured before the server starts, on an idle machine:
	// a server at startup (warming its cache, sweeping) would lower it.
	progress("measuring bcrypt at cost %d", bc.bcryptCost)
	bound := bcryptRate(bc.bcryptCost)
	if err := srv.start(); err != nil {
		return nil, err
	}
	defer srv.stop()
	client, err := mongodb.Connect(ctx, uri, 30*time.Second)
	if err != nil {
		return nil, err
	}
	raw := client.Database("bench_" + suffix + "_raw") // the baselines' own data
	defer func() {
		_ = raw.Drop(context.Background())
		if bc.mongoURI != "" {
			_ = client.Database(masterDB).Drop(context.Background())
			_ = client.Database(tenantDB).Drop(context.Background())
		}
		_ = client.Disconnect(context.Background())
	}()
	std := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return srv.dial(ctx, addr) }}}
	e := &benchEnv{srv: srv, db: client, master: client.Database(masterDB), raw: raw, tag: suffix, http: std, client: std,
		store: mongodb.NewStore(client, mongodb.Config{MasterDB: masterDB, TenantDB: tenantDB, TenantDBs: tenantDBs})}
	if bc.client == "conn" {
		e.client = &connClient{dial: srv.dial}
	}
	rep := &benchReport{Orgs: bc.orgs, RecordsPerOrg: bc.records, Database: where, BcryptCost: bc.bcryptCost, BcryptPerSec: bound, Client: bc.client, Transport: bc.transport}
	tokens, err := auth.NewTokens([]byte(secret), benchTokenTTL, time.Now)
	if err != nil {
		return nil, err
	}

	reused, err := e.load(ctx, bc, dir, tokens)
	if err != nil {
		return nil, err
	}
	if bc.dataDir != "" && bc.mongoURI == "" {
		if err := e.untidied(ctx, dir, reused, progress); err != nil {
			return nil, err
		}
		defer func() {
			// Interrupted too: with a context of its own.
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
			defer cancel()
			progress("taking out of %s what this run added", dir)
			err = cmp.Or(err, e.tidy(tctx, dir, false, progress))
		}()
	}
	start := time.Now()
	if !reused {
		progress("seeding %d organizations with %d records each", bc.orgs, bc.records)
		err := e.seed(ctx, bc, tokens, progress)
		if err == nil && bc.dataDir != "" {
			err = e.save(bc, dir)
		}
		if err != nil {
			e.orgs = nil // none is kept: the tidy-up takes every one out
			return nil, err
		}
		// Measure the steady state of a deployment, whose instances start
		// with the organizations already there, rather than a cold cache.
		progress("restarting the server")
		srv.stop()
		if err := srv.start(); err != nil {
			return nil, err
		}
	}
	rep.SeedSeconds, rep.SeedReused = time.Since(start).Seconds(), reused
	progress("waiting for the server's first reconciler sweep")
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	err = srv.settle(sctx, e.http)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the server's first reconciler sweep did not end: %w", err)
	}
	if reused {
		if err := e.refreshNames(ctx); err != nil {
			return nil, err
		}
	}

	if bc.wants(floodName) {
		progress("GET /org/get during a login flood at the bcrypt bound")
		e.flood(ctx, rep, bc.duration)
	}

	for _, sc := range e.scenarios(bc) {
		if !bc.wants(sc.name) {
			continue
		}
		for _, c := range bc.concurrency {
			if sc.name == renameName && c > bc.orgs {
				// One rename per organization at a time: more workers would
				// wait for one, and the wait would count as the rename's.
				progress("%s: concurrency %d capped at %d, the organizations", sc.name, c, bc.orgs)
				c = bc.orgs
			}
			progress("%s at concurrency %d", sc.name, c)
			h0, m0 := srv.cacheCounts(e.http)
			r0 := e.retries.Load()
			var r benchResult
			if sc.baseline != nil {
				var b benchResult
				// Retries in the warm-up are not the run's.
				r, b = driveTurns(ctx, sc.name, c, bc.duration, sc.orgd, sc.baseline, func() { r0 = e.retries.Load() })
				r.BaselineName, r.Baseline, r.BaselineErrors = sc.baselineName, b.Throughput, b.Errors
				if b.Throughput > 0 {
					r.Ratio = r.Throughput / b.Throughput
				}
			} else if sc.name == "POST /admin/login" {
				// Logins are too slow for one-second turns: the bound is
				// measured on either side of the run instead, so that a
				// machine whose speed drifts weighs on both alike.
				before := bcryptRate(bc.bcryptCost)
				r = drive(ctx, sc.name, c, bc.duration, sc.orgd)
				bound := (before + bcryptRate(bc.bcryptCost)) / 2
				r.BaselineName, r.Baseline, r.Ratio = "bcrypt bound", bound, r.Throughput/bound
			} else {
				r = drive(ctx, sc.name, c, bc.duration, sc.orgd)
			}
			r.Retries = int(e.retries.Load() - r0)
			if h1, m1 := srv.cacheCounts(e.http); h1+m1 > h0+m0 {
				r.CacheHitRate = (h1 - h0) / (h1 + m1 - h0 - m0)
			}
			rep.Results = append(rep.Results, r)
		}
	}

	if e.renamesFailed.Load() > 0 {
		progress("waiting for the server to finish or undo the %d renames that failed", e.renamesFailed.Load())
		if err := e.quiesce(ctx); err != nil {
			return nil, err
		}
	}

	if bc.wants(renameTimesName) {
		progress("rename with 100 and with %d records", bc.renameDocs)
		if rep.RenameSmallMs, err = e.renameTime(ctx, tokens, 100); err != nil {
			return nil, err
		}
		if rep.RenameLargeMs, err = e.renameTime(ctx, tokens, bc.renameDocs); err != nil {
			return nil, err
		}
		rep.RenameDocs = bc.renameDocs
	}

	var peak float64 // of the server the scenarios ran on
	if bc.soak > 0 && bc.wants(soakName) {
		// The soak compares a server's first minute of mixed load with its
		// tenth: on a server the scenarios above have already grown (their
		// heap, the database's connections, the records of the rename),
		// the first minute would start high and the growth go unseen.
		progress("restarting the server for the soak")
		peak = srv.peakRSS()
		srv.stop()
		if err := srv.start(); err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		err = srv.settle(sctx, e.http)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("the restarted server's first reconciler sweep did not end: %w", err)
		}
		progress("soak: mixed load for %v", bc.soak)
		rep.SoakMinutes = bc.soak.Minutes()
		mixed := func(rng *mrand.Rand) error {
			switch rng.IntN(3) {
			case 0:
				return e.getOrg(rng)
			case 1:
				return e.getRecord(rng)
			}
			return e.createRecord(rng)
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-time.After(time.Minute):
				rep.SoakRSS1mMiB = rssMiB(srv.pid(), "VmRSS")
			case <-done:
			}
		}()
		soak := drive(ctx, "soak", 8, bc.soak, mixed)
		rep.SoakRequests, rep.SoakErrors, rep.SoakFirstError = soak.Requests, soak.Errors, soak.FirstError
		close(done)
		rep.SoakRSSEndMiB = rssMiB(srv.pid(), "VmRSS")
	}
	rep.PeakRSSMiB = max(peak, srv.peakRSS())
	if ctx.Err() != nil { // the scenarios after the interruption ran for no time: no report
		return nil, fmt.Errorf("interrupted before the end: %w", ctx.Err())
	}
	return rep, nil
}
