package auth

import "golang.org/x/sys/unix"

// lowerPriority gives the calling thread the lowest scheduling priority:
// SCHED_IDLE, which runs it only on a CPU nothing else wants and lets any
// other thread that wakes take that CPU at once (at nice 19 alone, a woken
// thread could wait for the end of a time slice); nice 19 should that be
// refused.
func lowerPriority() {
	idle := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if unix.SchedSetAttr(0, &idle, 0) == nil {
		return
	}
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}
