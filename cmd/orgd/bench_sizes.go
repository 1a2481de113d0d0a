package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// benchSizes is a run at several sizes: each size's report, and how the
// latencies of the largest compare with those of the smallest.
type benchSizes struct {
	Runs []*benchReport `json:"runs"`
	Flat []sizeRatio    `json:"flat_with_tenants"`
}

// sizeRatio compares one scenario's median latency at two sizes.
type sizeRatio struct {
	Scenario    string  `json:"scenario"`
	Concurrency int     `json:"concurrency"`
	SmallOrgs   int     `json:"small_orgs"`
	LargeOrgs   int     `json:"large_orgs"`
	SmallP50ms  float64 `json:"small_p50_ms"`
	LargeP50ms  float64 `json:"large_p50_ms"`
	Ratio       float64 `json:"ratio"`
}

// compareSizes pairs the scenarios measured at the same concurrency in both
// runs, in the order of the smaller run.
func compareSizes(small, large *benchReport) []sizeRatio {
	type key struct {
		scenario string
		conc     int
	}
	p50 := map[key]float64{}
	for _, r := range large.Results {
		p50[key{r.Scenario, r.Concurrency}] = r.P50ms
	}
	var out []sizeRatio
	for _, r := range small.Results {
		l, ok := p50[key{r.Scenario, r.Concurrency}]
		if !ok || r.P50ms <= 0 {
			continue
		}
		out = append(out, sizeRatio{Scenario: r.Scenario, Concurrency: r.Concurrency, SmallOrgs: small.Orgs, LargeOrgs: large.Orgs,
			SmallP50ms: r.P50ms, LargeP50ms: l, Ratio: l / r.P50ms})
	}
	return out
}

func printSizes(w io.Writer, small, large *benchReport) {
	fmt.Fprintf(w, "flat with tenants: p50 at %d organizations against %d, in this run (target: at most 1.5 for GET /org/get and authenticated requests)\n\n", large.Orgs, small.Orgs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tconc\tp50 ms at %d\tp50 ms at %d\tratio\t\n", small.Orgs, large.Orgs)
	for _, x := range compareSizes(small, large) {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.2f\t\n", x.Scenario, x.Concurrency, x.SmallP50ms, x.LargeP50ms, x.Ratio)
	}
	tw.Flush()
}
