package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/orgd/orgd/embeddb"
	"io"
	"log/slog"

	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// doctor checks orgd's invariants against the configured database, prints
// every violation, and with -repair fixes what can be fixed without losing data.
func doctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orgd doctor", flag.ContinueOnError)
	repair := fs.Bool("repair", false, "fix what can be fixed without losing data, and say what was done")
	cfg, err := loadConfig(fs, args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client, closeDB, err := connectTool(ctx, cfg, logger, stdout)
	if err != nil {
		return err
	}
	defer closeDB()
	deps, closeDeps, err := connectDeployments(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDeps()
	cfg.CacheSync = 0 // a tool reads what is there now
	store := newStore(client, deps, cfg, logger)
	defer store.Close()

	found, err := store.Check(ctx)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	var probs []mongodb.Problem
	for _, p := range found {
		if p.Leftover && !*repair { // what a drop leaves until a later sweep
			fmt.Fprintf(stdout, "note: %s: a sweep of the reconciler removes it once it has been empty for about two minutes (or orgd doctor -repair now)\n", p.Text)
			continue
		}
		probs = append(probs, p)
	}
	if len(probs) == 0 {
		fmt.Fprintln(stdout, "No problems found.")
		return nil
	}
	fixable := 0
	for _, p := range probs {
		fmt.Fprintf(stdout, "problem: %s\n", p.Text)
		if p.Repair != nil {
			fixable++
		}
	}
	if !*repair {
		return fmt.Errorf("%d problems found (%d can be fixed by orgd doctor -repair)", len(probs), fixable)
	}
	for _, p := range probs {
		if p.Repair == nil {
			continue
		}
		if msg, err := p.Repair(ctx); err != nil {
			fmt.Fprintf(stdout, "could not fix: %s: %v\n", p.Text, err)
		} else if msg != "" {
			fmt.Fprintf(stdout, "fixed: %s\n", msg)
		}
	}
	left, err := store.Check(ctx)
	if err != nil {
		return fmt.Errorf("check after repair: %w", err)
	}
	for _, p := range left {
		fmt.Fprintf(stdout, "still broken: %s\n", p.Text)
	}
	if len(left) > 0 {
		return fmt.Errorf("%d problems remain and need a person to decide", len(left))
	}
	fmt.Fprintln(stdout, "All problems fixed.")
	return nil
}

// connectTool connects a command-line tool to orgd's database: MONGODB_URI,
// else the embedded database of the orgd running on the data directory (as
// its lock file says: whatever else answers on ORGD_EMBEDDED_ADDR may serve
// another directory), else the embedded database started here on it.
func connectTool(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) (*mongo.Client, func(), error) {
	uri := cfg.MongoURI
	stop := func() {}
	if uri == "" {
		where, err := embeddb.Running(cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		// A mistyped directory would otherwise be created empty and pass
		// every check. One that an orgd holds is orgd's, even before its
		// first organization has written the master database's file.
		if where == "" && !embeddb.HasDatabase(cfg.DataDir, cfg.MasterDB) {
			return nil, nil, fmt.Errorf("no orgd data in %s (no %s database there): check ORGD_DATA_DIR (-data-dir)", cfg.DataDir, cfg.MasterDB)
		}
		if where != "" {
			uri = where
			fmt.Fprintf(stdout, "Using the running orgd's embedded database at %s.\n", where)
		} else {
			own := cfg // listens on the directory's socket, whatever port orgd uses
			if _, err := embeddb.SocketPath(cfg.DataDir); err == nil {
				own.EmbeddedAddr = ""
			} else {
				own.EmbeddedAddr = "127.0.0.1:0"
			}
			edb, err := startEmbedded(own, logger)
			if err != nil {
				return nil, nil, err
			}
			uri, stop = edb.URI(), func() { stopEmbedded(edb, logger) }
			fmt.Fprintf(stdout, "Opened the embedded database in %s.\n", cfg.DataDir)
		}
	}
	client, err := mongodb.Connect(ctx, uri, cfg.DBTimeout)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("MONGODB_URI: %w", err)
	}
	return client, func() { _ = client.Disconnect(context.Background()); stop() }, nil
}
