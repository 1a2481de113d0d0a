package auth

import "runtime"

// background runs fn on an operating-system thread of its own at the lowest
// scheduling priority, and waits for it. bcrypt is CPU-bound by design: run
// this way it uses every idle core, but the kernel hands the CPU to request
// handling first, so a login flood does not slow the requests that need no
// hash. The process needs more Ps (GOMAXPROCS) than CPUs for the Go scheduler
// to keep serving while hashes hold theirs: see cmd/orgd.
func background(fn func()) {
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
