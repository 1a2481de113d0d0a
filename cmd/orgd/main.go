// Command orgd runs the multi-tenant organization service.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongodb"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "orgd: %v\n", err)
		os.Exit(1)
	}
}

// Timeouts that bound how long orgd waits.
const (
	dbTimeout       = 10 * time.Second // any one database operation
	shutdownTimeout = 15 * time.Second // in-flight requests on shutdown
)

// run starts orgd and serves until ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	uri, where := cfg.MongoURI, ""
	if uri == "" {
		edb, err := embeddb.Start(embeddb.Config{Dir: cfg.DataDir, Addr: cfg.EmbeddedAddr, Logger: logger.With("component", "ferretdb")})
		if errors.Is(err, embeddb.ErrAddrInUse) {
			return fmt.Errorf("ORGD_EMBEDDED_ADDR (-embedded-addr) %s is already in use: stop what holds it or choose another loopback address, e.g. ORGD_EMBEDDED_ADDR=127.0.0.1:27018", cfg.EmbeddedAddr)
		} else if err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := edb.Stop(ctx); err != nil {
				logger.Error("stop embedded database", "err", err)
			}
		}()
		dir, _ := filepath.Abs(cfg.DataDir)
		uri, where = edb.URI(), fmt.Sprintf("%s (embedded FerretDB, data in %s)", edb.URI(), dir)
	} else {
		where = redactURI(uri)
	}

	secret, err := jwtSecret(cfg, logger)
	if err != nil {
		return err
	}
	client, err := mongodb.Connect(ctx, uri, dbTimeout)
	if err != nil {
		return err
	}
	defer func() { // before the embedded database stops: it waits for open connections
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	}()
	store := mongodb.NewStore(client, mongodb.Config{MasterDB: cfg.MasterDB, TenantDB: cfg.TenantDB, Logger: logger})
	tokens, err := auth.NewTokens(secret, cfg.TokenTTL, time.Now)
	if err != nil {
		return err
	}
	passwords, err := auth.NewPasswords(cfg.BcryptCost)
	if err != nil {
		return err
	}
	srv := api.NewServer(api.Deps{Store: store, Tokens: tokens, Passwords: passwords, Logger: logger, Version: version})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ORGD_ADDR (-addr) %s: cannot listen: %w", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	base := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(stdout, "orgd %s\n  API:      %s\n  Docs:     %s/docs\n  Database: %s\n", version, base, base, where)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		logger.Warn("requests still running at shutdown were cut off", "err", err)
	}
	return nil
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

// redactURI hides the password in a MongoDB URI.
func redactURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(MONGODB_URI)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery = ""
	return u.String()
}
