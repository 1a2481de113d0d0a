package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor keeps the garbage collector's heap goal at floor bytes or more.
//
// Go collects when the heap reaches twice what the last collection left
// live (GOGC=100). Until it caches thousands of organizations, orgd's live
// heap is a few MiB, and a heap that small is collected several times a
// second under load. Each collection stops the world twice, and for longer
// while password hashes run: their threads have the lowest priority (see
// auth.background), yet each must be scheduled to stop. Under a login flood
// the pauses of a collection came to 0.9 ms against 0.3 ms without one, at
// eight collections a second. Raising GOGC while the live heap is small
// trades at most floor bytes of memory for far fewer collections; once the
// goal Go itself would set reaches the floor, GOGC is back at its default.
type heapFloor struct {
	floor uint64

	mu      sync.Mutex
	set     int // the percentage last set
	stopped bool
	sample  []metrics.Sample
}

// gcSentinel is allocated to be collected: its cleanup runs after the next
// collection. It holds a pointer so that it is never one of the tiny
// objects the runtime packs together (whose cleanups may never run).
type gcSentinel struct{ _ *byte }

// defaultGOGC is GOGC when the GOGC variable is unset.
const defaultGOGC = 100

// startHeapFloor keeps the heap goal at floor bytes or more until stop is
// called, which sets GOGC back to its default. A floor of 0, or a GOGC
// variable (whatever its value: the operator's choice), leaves the collector
// alone.
func startHeapFloor(floor uint64, gogc string) (stop func()) {
	if floor == 0 || gogc != "" {
		return func() {}
	}
	h := &heapFloor{floor: floor, set: defaultGOGC, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
	h.adjust()
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.stopped = true
		debug.SetGCPercent(defaultGOGC)
	}
}

// adjust sets GOGC for the live heap the last collection left, and asks to
// be called again after the next one.
func (h *heapFloor) adjust() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	metrics.Read(h.sample)
	var n [3]uint64 // live heap, stacks, globals
	for i, s := range h.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			n[i] = s.Value.Uint64()
		}
	}
	if p := floorPercent(n[0], n[0]+n[1]+n[2], h.floor, defaultGOGC); p != h.set {
		debug.SetGCPercent(p)
		h.set = p
	}
	runtime.AddCleanup(&gcSentinel{}, (*heapFloor).adjust, h)
}

// runtimeHeapMinimum is the runtime's smallest heap goal at GOGC=100. It
// scales with GOGC, so GOGC must not exceed what puts it at the floor.
const runtimeHeapMinimum = 4 << 20

// floorPercent is the GOGC that puts the heap goal at floor, or base when
// the goal is already as high. The runtime sets the goal at the live heap
// plus GOGC percent of what a collection scans (the live heap, the stacks
// and the globals). Before the first collection, live is 0 and so is the
// answer base.
func floorPercent(live, scanned, floor uint64, base int) int {
	if live == 0 || scanned == 0 || live+scanned*uint64(base)/100 >= floor {
		return base
	}
	return max(base, int(min((floor-live)*100/scanned, floor*100/runtimeHeapMinimum)))
}
