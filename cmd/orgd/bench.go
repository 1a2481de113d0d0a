package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// benchConfig is what `orgd bench` is asked to measure.
type benchConfig struct {
	orgs, records int
	concurrency   []int
	duration      time.Duration
	bcryptCost    int
	renameDocs    int
	soak          time.Duration
	jsonOut       bool
	mongoURI      string
	dataDir       string
	only          []string
	client        string // "conn" or "net/http"
	transport     string // "unix" or "tcp": how the server's API is reached
}

// benchResult is one scenario at one concurrency.
type benchResult struct {
	Scenario    string `json:"scenario"`
	Concurrency int    `json:"concurrency"`
	Requests    int    `json:"requests"`
	Errors      int    `json:"errors"`
	Retries     int    `json:"retries_waited_out"` // a 503 or 429 with a short Retry-After, waited out and retried

	Throughput   float64 `json:"throughput_per_s"`
	P50ms        float64 `json:"p50_ms"`
	P95ms        float64 `json:"p95_ms"`
	P99ms        float64 `json:"p99_ms"`
	BaselineName string  `json:"baseline,omitempty"`
	Baseline     float64 `json:"baseline_throughput_per_s,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	// BaselineErrors are the baseline's failures: each lowers it, and so
	// raises the ratio.
	BaselineErrors int `json:"baseline_errors,omitempty"`
	// FirstError is what the first of the errors said.
	FirstError string `json:"first_error,omitempty"`
	// CacheHitRate is the share of the server's cached lookups answered
	// without the database while the scenario ran.
	CacheHitRate float64 `json:"cache_hit_rate"`
}

// benchReport is everything one run measured.
type benchReport struct {
	Orgs           int           `json:"orgs"`
	RecordsPerOrg  int           `json:"records_per_org"`
	Database       string        `json:"database"`
	Client         string        `json:"http_client"`
	Transport      string        `json:"transport"`
	BcryptCost     int           `json:"bcrypt_cost"`
	BcryptPerSec   float64       `json:"bcrypt_hashes_per_s"`
	SeedSeconds    float64       `json:"seed_seconds"`
	SeedReused     bool          `json:"seed_reused,omitempty"`
	Results        []benchResult `json:"results"`
	RenameSmallMs  float64       `json:"rename_small_ms"`
	RenameLargeMs  float64       `json:"rename_large_ms"`
	RenameDocs     int           `json:"rename_large_docs"`
	IdleP99ms      float64       `json:"get_org_idle_p99_ms"`
	FloodP99ms     float64       `json:"get_org_during_login_flood_p99_ms"`
	FloodLoginRate float64       `json:"login_flood_throughput_per_s"`
	FloodErrors    int           `json:"login_flood_errors,omitempty"` // the logins' and the reads' alike
	PeakRSSMiB     float64       `json:"server_peak_rss_mib"`
	SoakRSS1mMiB   float64       `json:"soak_rss_after_1m_mib,omitempty"`
	SoakRSSEndMiB  float64       `json:"soak_rss_at_end_mib,omitempty"`
	SoakMinutes    float64       `json:"soak_minutes,omitempty"`
	SoakRequests   int           `json:"soak_requests,omitempty"`
	SoakErrors     int           `json:"soak_errors,omitempty"`
	SoakFirstError string        `json:"soak_first_error,omitempty"`
}

// bench runs `orgd bench`: it starts orgd, seeds it and measures it.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("orgd bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bc benchConfig
	conc := fs.String("concurrency", "1,32", "comma-separated concurrencies to drive each scenario at")
	orgs := fs.String("orgs", "100", `organizations to seed; several ("100,10000") run one after the other and compare their latencies`)
	only := fs.String("only", "", `comma-separated parts of measurement names: run just those (the scenarios, "login flood", "rename times" and "soak")`)
	fs.IntVar(&bc.records, "records", 10, "records per organization")
	fs.DurationVar(&bc.duration, "duration", 5*time.Second, "how long each scenario runs at each concurrency")
	fs.IntVar(&bc.bcryptCost, "bcrypt-cost", 12, "bcrypt cost the server uses")
	fs.IntVar(&bc.renameDocs, "rename-docs", 100_000, "records of the organization renamed to compare with one of 100")
	fs.DurationVar(&bc.soak, "soak", 0, "also run mixed load this long and compare RSS after 1 minute and at the end (e.g. 10m)")
	fs.BoolVar(&bc.jsonOut, "json", false, "print the result as JSON")
	fs.StringVar(&bc.client, "client", "conn", `HTTP client: "conn" (a kept connection per request in flight, written and read by the caller, as the driver does) or "net/http" (the standard library's)`)
	fs.StringVar(&bc.transport, "transport", "", `how the server's API is reached: "unix" (a Unix socket, as the baseline reaches the embedded database by default) or "tcp" (loopback TCP, and the embedded database too); default: unix on the embedded database, tcp with MONGODB_URI`)
	fs.StringVar(&bc.dataDir, "data", "", "keep the embedded database in this directory (with several -orgs, one per size in it); a later run at the same sizes reuses its organizations instead of seeding")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for o := range strings.SplitSeq(*only, ",") {
		if o = strings.TrimSpace(o); o != "" {
			bc.only = append(bc.only, o)
		}
	}
	for _, c := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > 1024 {
			return fmt.Errorf("-concurrency: %q is not a number from 1 to 1024", c)
		}
		bc.concurrency = append(bc.concurrency, n)
	}
	if bc.duration <= 0 {
		return fmt.Errorf("-duration must be positive")
	}
	if bc.soak < 0 || bc.soak > 0 && bc.soak <= time.Minute {
		return fmt.Errorf("-soak compares RSS after its first minute with its end: give it more than a minute (e.g. 10m)")
	}
	var sizes []int
	for _, o := range strings.Split(*orgs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(o))
		if err != nil || n < 1 {
			return fmt.Errorf("-orgs: %q is not a positive number", o)
		}
		sizes = append(sizes, n)
	}
	if bc.records < 1 || bc.bcryptCost < bcrypt.MinCost || bc.bcryptCost > maxBcryptCost {
		return fmt.Errorf("-records must be positive, -bcrypt-cost from %d to %d (as ORGD_BCRYPT_COST)", bcrypt.MinCost, maxBcryptCost)
	}
	if bc.client != "conn" && bc.client != "net/http" {
		return fmt.Errorf(`-client: %q is neither "conn" nor "net/http"`, bc.client)
	}
	bc.mongoURI = getenv("MONGODB_URI")
	switch {
	case bc.transport == "" && bc.mongoURI == "":
		bc.transport = "unix"
	case bc.transport == "":
		bc.transport = "tcp"
	case bc.transport != "unix" && bc.transport != "tcp":
		return fmt.Errorf(`-transport: %q is neither "unix" nor "tcp"`, bc.transport)
	}
	if bc.mongoURI != "" && bc.dataDir != "" {
		return fmt.Errorf("-data keeps the embedded database: it cannot be used with MONGODB_URI")
	}
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	var reps []*benchReport
	for i, n := range sizes {
		run := bc
		run.orgs = n
		if len(sizes) > 1 {
			progress("%d organizations (size %d of %d)", n, i+1, len(sizes))
			if bc.dataDir != "" {
				run.dataDir = filepath.Join(bc.dataDir, strconv.Itoa(n))
			}
			if i < len(sizes)-1 {
				run.soak = 0 // the memory target is at the largest size
			}
		}
		rep, err := runBench(ctx, run, progress)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	if bc.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if len(reps) == 1 {
			return enc.Encode(reps[0])
		}
		return enc.Encode(benchSizes{Runs: reps, Flat: compareSizes(reps[0], reps[len(reps)-1])})
	}
	for i, rep := range reps {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printBench(stdout, rep)
	}
	if len(reps) > 1 {
		fmt.Fprintln(stdout)
		printSizes(stdout, reps[0], reps[len(reps)-1])
	}
	return nil
}

func printBench(w io.Writer, r *benchReport) {
	over := map[string]string{"unix": "a Unix socket", "tcp": "loopback TCP"}[r.Transport]
	fmt.Fprintf(w, "orgd bench: %d organizations x %d records on %s; HTTP client %s over %s; bcrypt cost %d = %.1f hashes/s on this machine; seeded in %.0f s\n\n",
		r.Orgs, r.RecordsPerOrg, r.Database, r.Client, over, r.BcryptCost, r.BcryptPerSec, r.SeedSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tconc\treq/s\tp50 ms\tp95 ms\tp99 ms\terrors\tretried (503, 429)\tcache hits\tbaseline req/s\tratio\tbaseline\t")
	for _, x := range r.Results {
		base, ratio := "", ""
		if x.Baseline > 0 {
			base, ratio = fmt.Sprintf("%.1f", x.Baseline), fmt.Sprintf("%.2f", x.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.1f%%\t%s\t%s\t%s\t\n", x.Scenario, x.Concurrency, x.Throughput,
			x.P50ms, x.P95ms, x.P99ms, x.Errors, x.Retries, 100*x.CacheHitRate, base, ratio, x.BaselineName)
	}
	tw.Flush()
	for _, x := range r.Results {
		if x.BaselineErrors > 0 {
			fmt.Fprintf(w, "%s at concurrency %d: the baseline failed %d times (its rate, and the ratio, are not to be trusted)\n", x.Scenario, x.Concurrency, x.BaselineErrors)
		}
		if x.Errors > 0 {
			fmt.Fprintf(w, "%s at concurrency %d: %d errors, the first: %s\n", x.Scenario, x.Concurrency, x.Errors, x.FirstError)
		}
	}
	if r.SeedReused {
		fmt.Fprintln(w, "(the organizations and records of an earlier run were reused: -data)")
	}
	fmt.Fprintln(w)
	if r.RenameSmallMs > 0 { // unless -only left it out
		fmt.Fprintf(w, "rename: %.1f ms with 100 records, %.1f ms with %d records (ratio %.2f)\n",
			r.RenameSmallMs, r.RenameLargeMs, r.RenameDocs, r.RenameLargeMs/max(r.RenameSmallMs, 0.001))
	}
	if r.IdleP99ms > 0 {
		fmt.Fprintf(w, "GET /org/get p99: %.2f ms idle, %.2f ms during a login flood of %.1f logins/s (ratio %.2f; %d errors)\n",
			r.IdleP99ms, r.FloodP99ms, r.FloodLoginRate, r.FloodP99ms/max(r.IdleP99ms, 0.001), r.FloodErrors)
	}
	fmt.Fprintf(w, "server peak RSS: %.1f MiB\n", r.PeakRSSMiB)
	if r.SoakMinutes > 0 {
		fmt.Fprintf(w, "soak %.0f min: RSS %.1f MiB after 1 min, %.1f MiB at the end (ratio %.2f); %d requests, %d errors\n",
			r.SoakMinutes, r.SoakRSS1mMiB, r.SoakRSSEndMiB, r.SoakRSSEndMiB/max(r.SoakRSS1mMiB, 0.001), r.SoakRequests, r.SoakErrors)
		if r.SoakErrors > 0 {
			fmt.Fprintf(w, "soak: the first error: %s\n", r.SoakFirstError)
		}
	}
}

// rssMiB reads a process's resident set size (field VmRSS or VmHWM) from /proc.
func rssMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
