package auth

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestBackgroundLendsProcs checks that each hash running in the background
// adds one P while it runs, and that the setting returns to what it was once
// none has run for a while.
func TestBackgroundLendsProcs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)

	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			background(func() {
				started <- struct{}{}
				<-release
			})
		})
	}
	<-started
	<-started
	during := runtime.GOMAXPROCS(0)
	close(release)
	wg.Wait()
	after := runtime.GOMAXPROCS(0)
	for end := time.Now().Add(10 * procLinger); after != base && time.Now().Before(end); after = runtime.GOMAXPROCS(0) {
		time.Sleep(procLinger / 10)
	}
	if during != base+2 || after != base {
		t.Errorf("GOMAXPROCS %d, with two hashes running %d, after them %d; want %d, %d", base, during, after, base+2, base)
	}
}
