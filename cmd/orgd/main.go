// Command orgd runs the multi-tenant organization service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/metrics"
	"github.com/orgd/orgd/mongodb"
	"github.com/prometheus/client_golang/prometheus"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// SIGHUP too: a closed terminal would otherwise end orgd at once, cutting
	// off requests under way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// The first signal starts a graceful shutdown; a second one, now handled
	// the default way, ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) { // -h: the usage is printed, as asked
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "orgd: %v\n", err)
		os.Exit(1)
	}
}

// command is one of orgd's subcommands; without one, orgd serves the API.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// commands lists the subcommands in the order the usage shows them.
func commands() []command {
	return []command{
		{"doctor", "[-repair]", "check the master database's invariants; -repair fixes what it can", doctor},
		{"orgs", "list [flags]", "list the organizations with their placement", orgsCmd},
		{"deployments", "", "show each deployment's tenants, size and state", deploymentsCmd},
		{"move", "<organization> [-to deployment] [-tenancy model]", "move an organization's data, or watch its move", moveCmd},
		{"drain", "<deployment> [-undo]", "stop placing new organizations on a deployment", drainCmd},
		{"bench", "[flags]", "measure orgd against the raw driver and the bcrypt bound", bench},
		{"config", "[flags]", "print the effective configuration and where each value comes from",
			func(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
				return printConfig(args, getenv, stdout, stderr)
			}},
		{"version", "", "print the version and build",
			func(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
				if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help"}, args[0]) {
					fmt.Fprintln(stderr, "usage: orgd version\nIt prints orgd's version, the commit it was built from and the Go version that built it.")
					return flag.ErrHelp
				} else if len(args) > 0 {
					return fmt.Errorf("orgd version takes no arguments, got %q", args[0])
				}
				return printVersion(stdout)
			}},
	}
}

// usage is what orgd -h prints: the commands, then the server's flags.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage:\n  orgd [flags]                serve the API\n  orgd <command> [arguments]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\norgd <command> -h shows how to use a command.\n\nFlags (each also an environment variable, named in parentheses; a flag wins over it):\n")
	fs.PrintDefaults()
}

// shutdownTimeout bounds how long in-flight requests may run on shutdown.
const shutdownTimeout = 15 * time.Second

// run starts orgd and serves until ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		i := slices.IndexFunc(commands(), func(c command) bool { return c.name == args[1] })
		if i < 0 {
			return fmt.Errorf("unknown command %q (orgd -h lists the commands)", args[1])
		}
		return commands()[i].run(ctx, args[2:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("orgd", flag.ContinueOnError)
	fs.Usage = func() { usage(fs) }
	cfg, err := loadConfig(fs, args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	defer startHeapFloor(uint64(cfg.HeapFloorMiB)<<20, getenv("GOGC"))()
	build := readBuild()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Build{Version: build.Version, Commit: build.commitOrUnknown(), GoVersion: build.GoVersion}, time.Now)

	uri, where := cfg.MongoURI, maskURI(cfg.MongoURI)
	var listDBs func(context.Context) ([]string, error) // nil: the listDatabases command
	if uri == "" {
		edb, err := startEmbedded(cfg, logger)
		if err != nil {
			return err
		}
		defer stopEmbedded(edb, logger)
		dir, _ := filepath.Abs(cfg.DataDir)
		uri, where = edb.URI(), fmt.Sprintf("%s (embedded FerretDB, data in %s)", edb.URI(), dir)
		listDBs = edb.DatabaseNames
	}

	tokens, err := newTokens(cfg, logger)
	if err != nil {
		return err
	}
	client, err := mongodb.ConnectWith(ctx, uri, cfg.DBTimeout, m.CommandMonitor())
	if err != nil {
		return fmt.Errorf("MONGODB_URI: %w", err)
	}
	defer func() { // before the embedded database stops: it waits for open connections
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	}()
	deps, closeDeps, err := connectDeployments(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDeps()
	opToken, err := operatorToken(cfg)
	if err != nil {
		return err
	}
	scfg := storeConfig(cfg, deps, logger)
	scfg.RevocationTTL, scfg.Reconciled, scfg.ListDatabases = cfg.TokenTTL+cfg.JWTLeeway, m.Reconciled, listDBs
	store := mongodb.NewStore(client, scfg)
	defer store.Close() // moves running in the background stop where they are, for the reconciler
	m.CountOrganizations(store.CountByStatus)
	m.Cache("master", store.CacheStats)
	m.AuditDeferred(store.AuditDeferred)
	passwords, gate, err := newPasswords(cfg)
	if err != nil {
		return err
	}
	m.BcryptQueue(gate.Waiting)
	security, throttle := apiSecurity(cfg)
	srv := api.NewServer(api.Deps{Store: store, Records: store, Tokens: tokens, Passwords: m.Passwords(passwords), HashGate: gate, Logger: logger,
		Version: build.Version, Sessions: store, Audit: store, Throttle: throttle, Security: security, Now: time.Now,
		Metrics: m, MetricsHandler: metrics.Handler(reg, logger), SeparateAdmin: cfg.AdminAddr != "",
		Operator: store, OperatorToken: opToken})

	// A few scans now spare one per organization on first use.
	wctx, cancelWarm := context.WithTimeout(ctx, cfg.DBTimeout)
	t0 := time.Now()
	if n, err := store.WarmCache(wctx); err != nil {
		logger.Warn("cache: could not read the master collections at startup; lookups fill it instead", "err", err)
	} else {
		logger.Info("cache warmed", "entries", n, "duration", time.Since(t0).Round(time.Millisecond).String())
	}
	cancelWarm()

	public, err := listen("ORGD_ADDR (-addr)", cfg.Addr, srv.Handler(), logger)
	if err != nil {
		return err
	}
	if _, ok := socketPath(cfg.Addr); ok && !cfg.TrustUnixPeers {
		logger.Warn("the API is on a Unix socket whose peers are not trusted proxies: every request on it has client address unix, so all share one address's login limit; if a proxy forwards them, add unix to ORGD_TRUSTED_PROXIES")
	}
	servers, ops := []*httpServer{public}, public
	if cfg.AdminAddr != "" {
		if ops, err = listen("ORGD_ADMIN_ADDR (-admin-addr)", cfg.AdminAddr, srv.AdminHandler(), logger); err != nil {
			public.ln.Close()
			return err
		}
		servers = append(servers, ops)
	}
	fmt.Fprintf(stdout, "orgd %s\n  API:      %s\n  Docs:     %s/docs\n  Console:  %s/console/\n  Metrics:  %s/metrics\n  Database: %s\n  Tenants:  %s\n",
		build.Version, public.base(), ops.base(), public.base(), ops.base(), where, describeDeployments(cfg, deps))

	// The reconciler repairs operations that a crashed instance (this one's
	// previous life, or another sharing the database) left unfinished.
	rctx, stopReconciler := context.WithCancel(ctx)
	reconciled := make(chan struct{})
	go func() {
		defer close(reconciled)
		store.RunReconciler(rctx, cfg.Reconcile, logger)
	}()
	defer func() { stopReconciler(); <-reconciled }()
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		store.RunCacheSync(rctx, logger)
	}()
	defer func() { stopReconciler(); <-synced }()
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		store.RunPruner(rctx, cfg.PruneInterval, cfg.AuditRetention, logger)
	}()
	defer func() { stopReconciler(); <-pruned }()

	return serve(ctx, logger, servers, shutdownTimeout)
}

// startEmbedded starts the embedded database, turning a taken port into an
// error that says which setting to change.
func startEmbedded(cfg config, logger *slog.Logger) (*embeddb.Server, error) {
	edb, err := embeddb.Start(embeddb.Config{Dir: cfg.DataDir, Addr: cfg.EmbeddedAddr, CacheKiB: cfg.EmbedCacheKiB, Logger: logger.With("component", "ferretdb")})
	if errors.Is(err, embeddb.ErrAddrInUse) {
		return nil, fmt.Errorf("ORGD_EMBEDDED_ADDR (-embedded-addr) %s is already in use: stop what holds it or choose another loopback address, e.g. ORGD_EMBEDDED_ADDR=127.0.0.1:27018", cfg.EmbeddedAddr)
	}
	if errors.Is(err, embeddb.ErrPathTooLong) {
		return nil, fmt.Errorf("ORGD_DATA_DIR (-data-dir): %w; choose a shorter path, or set ORGD_EMBEDDED_ADDR to listen on a loopback port instead", err)
	}
	if errors.Is(err, embeddb.ErrDirName) {
		return nil, fmt.Errorf("ORGD_DATA_DIR (-data-dir): %w", err)
	}
	if errors.Is(err, embeddb.ErrAddrUnusable) {
		return nil, fmt.Errorf("ORGD_EMBEDDED_ADDR (-embedded-addr) %s: %w", cfg.EmbeddedAddr, err)
	}
	return edb, err
}

func stopEmbedded(edb *embeddb.Server, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := edb.Stop(ctx); err != nil {
		logger.Error("stop embedded database", "err", err)
	}
}

// displayAddr turns a listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
