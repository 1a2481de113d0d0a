package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestFloorPercent checks the GOGC chosen for a live heap and the floor.
func TestFloorPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		name                 string
		live, scanned, floor uint64
		want                 int
	}{
		{"before the first collection", 0, 0, 64 * mib, 100},
		{"tiny heap: the runtime's minimum goal at the floor", 2 * mib, 2 * mib, 64 * mib, 1600},
		{"small heap: 10 MiB + 540% of 10 MiB is the floor", 10 * mib, 10 * mib, 64 * mib, 540},
		{"heap past half the floor: Go's default", 40 * mib, 40 * mib, 64 * mib, 100},
		{"floor under the runtime's minimum", 1 * mib, 1 * mib, 2 * mib, 100},
	} {
		if got := floorPercent(tt.live, tt.scanned, tt.floor, 100); got != tt.want {
			t.Errorf("%s: floorPercent(%d, %d, %d) = %d, want %d", tt.name, tt.live, tt.scanned, tt.floor, got, tt.want)
		}
	}
}

// gcPercent reads GOGC without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestHeapFloor checks that after a collection of a heap far under the
// floor GOGC is raised, that stopping sets it back, and that a GOGC
// variable leaves it alone.
func TestHeapFloor(t *testing.T) {
	if p := gcPercent(); p != 100 {
		t.Skipf("GOGC is %d here", p)
	}
	startHeapFloor(1<<30, "50")()
	if p := gcPercent(); p != 100 {
		t.Errorf("with GOGC set, GOGC became %d", p)
	}

	stop := startHeapFloor(1<<30, "")
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() == 100 && time.Now().Before(deadline) {
		runtime.GC() // the floor adjusts after a collection
		time.Sleep(10 * time.Millisecond)
	}
	if p := gcPercent(); p <= 100 {
		t.Errorf("GOGC %d under a 1 GiB floor, want more than 100", p)
	}
	stop()
	if p := gcPercent(); p != 100 {
		t.Errorf("GOGC %d after stop, want 100", p)
	}
}
