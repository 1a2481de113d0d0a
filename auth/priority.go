package auth

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// background runs fn on an operating-system thread of its own at the lowest
// scheduling priority, and waits for it. bcrypt is CPU-bound by design: run
// this way it uses every idle core, but the kernel hands the CPU to request
// handling first (almost always at once: see Gate for when it does not), so
// a login flood does not slow the requests that need no hash. The thread
// holds a P (GOMAXPROCS) all along, so the process is lent one more for as
// long as fn runs: request handling keeps as many as it had.
func background(fn func()) {
	spare.lend()
	defer spare.giveBack()
	done := make(chan struct{})
	go func() {
		// Never unlocked: the thread exits with this goroutine, so the
		// lowered priority (which an unprivileged thread cannot raise back)
		// never reaches other work.
		runtime.LockOSThread()
		lowerPriority()
		fn()
		close(done)
	}()
	<-done
}

// spare counts the Ps lent to hashes. GOMAXPROCS belongs to the process, so
// this count does too: it is the package's one mutable package-level state.
var spare procLender

// procLinger is how long a P no hash uses stays lent: during a login flood
// hashes follow each other, and each change of GOMAXPROCS stops the world.
const procLinger = time.Second

// procLender raises GOMAXPROCS by one per hash running and lowers it again
// once hashes have stopped: more Ps than CPUs all the time would let the
// process run more threads than it has CPUs (each request's helper
// goroutines wake threads that then compete with the request itself).
type procLender struct {
	mu    sync.Mutex
	lent  int         // Ps held by running hashes
	extra int         // Ps added to base: lent, or more while unused ones linger
	base  int         // GOMAXPROCS before any was added
	timer *time.Timer // takes back unused Ps
}

func (l *procLender) lend() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.extra == 0 {
		l.base = runtime.GOMAXPROCS(0)
	}
	if l.lent++; l.lent > l.extra {
		l.extra = l.lent
		runtime.GOMAXPROCS(l.base + l.extra)
	}
}

func (l *procLender) giveBack() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lent--
	if l.timer == nil {
		l.timer = time.AfterFunc(procLinger, l.shrink)
	} else {
		l.timer.Reset(procLinger)
	}
}

// shrink takes back the Ps no hash holds. Once none is lent, GOMAXPROCS is
// what it was before: what the GOMAXPROCS variable says, or else the
// runtime's own choice, which then follows the CPU quota again (setting a
// number turns that off; nothing else in orgd sets one).
func (l *procLender) shrink() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.extra == l.lent {
		return
	}
	l.extra = l.lent
	if l.extra > 0 || os.Getenv("GOMAXPROCS") != "" {
		runtime.GOMAXPROCS(l.base + l.extra)
		return
	}
	runtime.SetDefaultGOMAXPROCS()
}
