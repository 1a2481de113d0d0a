package auth

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestBackgroundRunsAtIdlePolicy checks that hashes run on a thread the
// kernel schedules only when no other thread wants the CPU.
func TestBackgroundRunsAtIdlePolicy(t *testing.T) {
	var attr *unix.SchedAttr
	var err error
	background(func() { attr, err = unix.SchedGetAttr(0, 0) })
	if err != nil || attr.Policy != unix.SCHED_IDLE {
		t.Errorf("scheduling attributes %+v, %v; want policy SCHED_IDLE (%d)", attr, err, unix.SCHED_IDLE)
	}
}
