package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestBench runs `orgd bench` at a tiny size twice over one data directory,
// the second time reusing the first's organizations (the first reaching the
// server and its database over TCP, the second on their sockets), and checks that every
// scenario was driven without errors and compared with its baseline, and
// that the directory then holds what -orgs and -records say, and nothing else.
func TestBench(t *testing.T) {
	bin := buildOrgd(t)
	dir := t.TempDir()
	for run, transport := range []string{"tcp", "unix"} {
		wantReused := run > 0
		cmd := exec.Command(bin, "bench", "-orgs", "3", "-records", "2", "-duration", "300ms", "-concurrency", "1,2",
			"-rename-docs", "300", "-bcrypt-cost", "4", "-data", dir, "-json", "-transport", transport)
		var stderr bytes.Buffer
		cmd.Stderr = io.MultiWriter(&stderr, logs)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, stderr.Bytes())
		}
		var rep benchReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		if rep.SeedReused != wantReused || rep.Transport != transport {
			t.Errorf("run %d: seed reused %v, transport %q; want %v, %q", run, rep.SeedReused, rep.Transport, wantReused, transport)
		}
		scenarios := map[string]int{}
		for _, r := range rep.Results {
			scenarios[r.Scenario]++
			if r.Requests == 0 || r.Errors != 0 || r.P50ms <= 0 || r.P99ms < r.P50ms {
				t.Errorf("run %d: %s at %d: %d requests, %d errors, p50 %v, p99 %v", run, r.Scenario, r.Concurrency, r.Requests, r.Errors, r.P50ms, r.P99ms)
			}
			if r.Ratio <= 0 || r.BaselineName == "" {
				t.Errorf("run %d: %s has no baseline ratio", run, r.Scenario)
			}
		}
		for _, s := range []string{"GET /org/get", "GET /org/get (token)", "GET /org/records/{id}", "POST /org/records", "POST /admin/login", "POST /org/create", "PUT /org/update (rename)"} {
			if scenarios[s] != 2 {
				t.Errorf("run %d: scenario %s ran at %d concurrencies, want 2", run, s, scenarios[s])
			}
		}
		if rep.RenameSmallMs <= 0 || rep.RenameLargeMs <= 0 || rep.IdleP99ms <= 0 || rep.FloodP99ms <= 0 || rep.PeakRSSMiB <= 0 || rep.BcryptPerSec <= 0 {
			t.Errorf("run %d: missing figures: %+v", run, rep)
		}
	}

	checkBenchData(t, dir, 3, 2)

	// -only selects the login-flood measurement by its name, like a scenario.
	cmd := exec.Command(bin, "bench", "-orgs", "3", "-records", "2", "-duration", "300ms", "-bcrypt-cost", "4", "-data", dir, "-only", "login flood", "-json")
	cmd.Stderr = logs
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Results) != 0 || rep.IdleP99ms <= 0 || rep.FloodP99ms <= 0 {
		t.Errorf("-only 'login flood': %d scenarios, p99 %v idle, %v during the flood; want none, and both", len(rep.Results), rep.IdleP99ms, rep.FloodP99ms)
	}
}

// TestBenchSizes runs `orgd bench` at two sizes in one go: each gets its own
// report and data directory, and the median latencies of the two are
// compared scenario by scenario.
func TestBenchSizes(t *testing.T) {
	bin := buildOrgd(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "bench", "-orgs", "2,3", "-records", "1", "-duration", "200ms", "-concurrency", "1",
		"-bcrypt-cost", "4", "-data", dir, "-only", "GET /org/get", "-json")
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(&stderr, logs)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.Bytes())
	}
	var rep benchSizes
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Orgs != 2 || rep.Runs[1].Orgs != 3 {
		t.Fatalf("runs: %+v", rep.Runs)
	}
	compared := map[string]bool{}
	for _, f := range rep.Flat {
		compared[f.Scenario] = true
		if f.SmallOrgs != 2 || f.LargeOrgs != 3 || f.SmallP50ms <= 0 || f.Ratio <= 0 || f.Concurrency != 1 {
			t.Errorf("comparison %+v", f)
		}
	}
	if !compared["GET /org/get"] || !compared["GET /org/get (token)"] || len(compared) != 2 {
		t.Errorf("compared %v, want the two GET /org/get scenarios", compared)
	}
	checkBenchData(t, filepath.Join(dir, "2"), 2, 1)
	checkBenchData(t, filepath.Join(dir, "3"), 3, 1)
}

// checkBenchData checks that the bench's data directory holds its seeded
// organizations with their records, and neither what its runs created nor
// their baselines' databases.
func checkBenchData(t *testing.T, dir string, orgs, records int) {
	t.Helper()
	db, err := embeddb.Start(embeddb.Config{Dir: dir, Addr: freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Stop(context.Background()) }()
	ctx := context.Background()
	client, err := mongodb.Connect(ctx, db.URI(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "bench") {
			t.Errorf("database %s is left after the runs", name)
		}
	}
	cur, err := client.Database("orgd_master").Collection("organizations").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var found []struct {
		Name       string `bson:"name"`
		Database   string `bson:"database"`
		Collection string `bson:"collection"`
	}
	if err := cur.All(ctx, &found); err != nil {
		t.Fatal(err)
	}
	if len(found) != orgs {
		t.Errorf("%d organizations after the runs, want the %d seeded", len(found), orgs)
	}
	for _, o := range found {
		n, err := client.Database(o.Database).Collection(o.Collection).CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(records) {
			t.Errorf("%s holds %d documents after the runs, want the %d seeded", o.Name, n, records)
		}
	}
}

// TestBenchInterrupted interrupts a run that writes records into a kept data
// directory: it fails (its figures would be those of scenarios cut short)
// and still takes out what it added.
func TestBenchInterrupted(t *testing.T) {
	bin := buildOrgd(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "bench", "-orgs", "3", "-records", "2", "-duration", "20s", "-concurrency", "1",
		"-bcrypt-cost", "4", "-data", dir, "-only", "POST /org/records")
	cmd.Env = append(os.Environ(), "ORGD_ADMIN_ADDR=127.0.0.1:0") // the server measured ignores this shell's settings
	// Records are being written a second after.
	if err := stopAt(t, cmd, "POST /org/records at concurrency 1", time.Second, os.Interrupt); err == nil {
		t.Error("an interrupted run succeeded")
	}
	checkBenchData(t, dir, 3, 2)
}

// stopAt runs cmd, a bench, and once a line of its progress contains
// trigger, waits for delay and sends it sig; it returns how cmd ended.
func stopAt(t *testing.T, cmd *exec.Cmd, trigger string, delay time.Duration, sig os.Signal) error {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		fmt.Fprintln(logs, sc.Text())
		if strings.Contains(sc.Text(), trigger) {
			time.Sleep(delay)
			_ = cmd.Process.Signal(sig)
			break
		}
	}
	go func() { _, _ = io.Copy(logs, stderr) }()
	return cmd.Wait()
}

// TestBenchChecks checks the figures' arithmetic and the flags the bench
// refuses.
func TestBenchChecks(t *testing.T) {
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(100-i) * time.Millisecond
	}
	if r := summarize("x", 1, lat, 0, time.Second); r.P50ms != 50 || r.P95ms != 95 || r.P99ms != 99 {
		t.Errorf("percentiles of 1..100 ms: p50 %v, p95 %v, p99 %v; want 50, 95, 99", r.P50ms, r.P95ms, r.P99ms)
	}
	for _, args := range [][]string{{"-duration", "-5s"}, {"-soak", "3s"}, {"-transport", "quic"}} {
		if err := bench(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
			t.Errorf("bench %v: accepted", args)
		}
	}
}

// TestDriveTurnsAfterWarmUp checks that what driveTurns reports, and what
// its caller counts from its measuring call (the retries), leave the
// warm-up out.
func TestDriveTurnsAfterWarmUp(t *testing.T) {
	var calls, atMeasuring atomic.Int64
	a := func(*mrand.Rand) error { calls.Add(1); time.Sleep(time.Millisecond); return nil }
	b := func(*mrand.Rand) error { time.Sleep(time.Millisecond); return nil }
	r, _ := driveTurns(t.Context(), "a", 1, time.Second, a, b, func() { atMeasuring.Store(calls.Load()) })
	if atMeasuring.Load() == 0 {
		t.Fatal("measuring was called before the warm-up ran")
	}
	if want := int(calls.Load() - atMeasuring.Load()); r.Requests != want {
		t.Errorf("%d requests reported, want the %d made after measuring was called", r.Requests, want)
	}
}

// TestBenchStoppedUntidy stops runs where they cannot tidy up, in a kept
// data directory: one interrupted while seeding, one killed while writing
// records. Each time the next run works, measures only the N organizations
// with M records, and leaves nothing else behind; and the killed run's
// server does not outlive it.
func TestBenchStoppedUntidy(t *testing.T) {
	bin := buildOrgd(t)
	dir := t.TempDir()
	// start runs the bench and stops it with sig, delay after a line of
	// its progress contains trigger.
	start := func(sig os.Signal, trigger string, delay time.Duration, args ...string) {
		cmd := exec.Command(bin, append([]string{"bench", "-duration", "20s", "-concurrency", "1", "-bcrypt-cost", "4", "-data", dir}, args...)...)
		if err := stopAt(t, cmd, trigger, delay, sig); err == nil {
			t.Errorf("bench %v, stopped: succeeded", args)
		}
	}
	// then runs the bench to its end and returns its progress.
	then := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"bench", "-orgs", "3", "-records", "2", "-duration", "300ms", "-concurrency", "1", "-bcrypt-cost", "4", "-data", dir}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = io.MultiWriter(&stderr, logs)
		if err := cmd.Run(); err != nil {
			t.Fatalf("bench %v after a stopped run: %v\n%s", args, err, stderr.Bytes())
		}
		return stderr.String()
	}

	start(os.Interrupt, "seeding", 200*time.Millisecond, "-orgs", "5000", "-records", "100", "-only", "GET /org/get")
	then("-only", "GET /org/get")
	checkBenchData(t, dir, 3, 2)

	start(os.Kill, "POST /org/records at concurrency 1", time.Second, "-orgs", "3", "-records", "2", "-only", "POST /org/records")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if addr, _ := embeddb.Running(dir); addr == "" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the killed run's server still serves %s", dir)
		}
	}
	progress := then("-only", "GET /org/get")
	tidied, measured := strings.Index(progress, "taking out of"), strings.Index(progress, "at concurrency")
	if tidied < 0 || measured < 0 || tidied > measured {
		t.Errorf("the run after a killed one measured before it tidied up:\n%s", progress)
	}
	checkBenchData(t, dir, 3, 2)
}
