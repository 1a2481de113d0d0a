package auth

import (
	"syscall"
	"testing"
)

// TestBackgroundRunsAtIdlePolicy checks that hashes run on a thread the
// kernel schedules only when no other thread wants the CPU.
func TestBackgroundRunsAtIdlePolicy(t *testing.T) {
	var policy uintptr
	background(func() { policy, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, 0, 0, 0) })
	if policy != schedIdle {
		t.Errorf("scheduling policy %d, want SCHED_IDLE (%d)", policy, schedIdle)
	}
}
