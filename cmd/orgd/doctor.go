package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

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

	probs, err := store.Check(ctx)
	if err != nil {
		return fmt.Errorf("check: %w", err)
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
// else the embedded database of a running orgd, else the embedded database
// started here on the data directory.
func connectTool(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) (*mongo.Client, func(), error) {
	uri := cfg.MongoURI
	stop := func() {}
	if uri == "" {
		where, err := embeddedURI(cfg)
		if err != nil {
			return nil, nil, err
		}
		uri = where + "?directConnection=true"
		probe, err := mongodb.Connect(ctx, uri, time.Second)
		if err == nil {
			err = probe.Ping(ctx, nil)
			_ = probe.Disconnect(context.Background())
		}
		if err != nil { // no orgd running: open the data directory ourselves
			edb, err := startEmbedded(cfg, logger)
			if err != nil {
				return nil, nil, err
			}
			uri, stop = edb.URI(), func() { stopEmbedded(edb, logger) }
			fmt.Fprintf(stdout, "Opened the embedded database in %s.\n", cfg.DataDir)
		} else {
			fmt.Fprintf(stdout, "Using the running orgd's embedded database at %s.\n", where)
		}
	}
	client, err := mongodb.Connect(ctx, uri, cfg.DBTimeout)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return client, func() { _ = client.Disconnect(context.Background()); stop() }, nil
}
