package mongodb

import (
	"slices"
	"testing"
	"time"
)

// TestSweepPace checks which reconciler rounds sweep: the first, then every
// tenth round while sweeps are quick, and no sooner than 100 times the last
// sweep's duration once they are slow.
func TestSweepPace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const interval = 30 * time.Second
	at := func(round int) time.Time { return t0.Add(time.Duration(round) * interval) }
	for _, tt := range []struct {
		name  string
		took  time.Duration // every sweep's duration
		sweep []int         // the rounds among the first 60 that sweep
	}{
		{"instant", 0, []int{0, 10, 20, 30, 40, 50}},
		{"quick", 2 * time.Second, []int{0, 10, 20, 30, 40, 50}}, // 200 s apart at least: 10 rounds are 300 s
		{"slow", 4 * time.Second, []int{0, 14, 28, 42, 56}},      // 400 s: the 14th round after
		{"slower than a round", 45 * time.Second, []int{0}},      // 4,500 s: none more in 30 minutes
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := sweepPacer{round: -1}
			var got []int
			for round := range 60 {
				if p.due(round, at(round)) {
					got = append(got, round)
					p.swept(round, at(round), at(round).Add(tt.took))
				}
			}
			if !slices.Equal(got, tt.sweep) {
				t.Errorf("sweeps at rounds %v, want %v", got, tt.sweep)
			}
		})
	}
}
