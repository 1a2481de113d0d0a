package auth

import (
	"syscall"
	"unsafe"
)

// schedIdle is Linux's SCHED_IDLE policy: the thread runs only on a CPU that
// nothing else wants, and any other thread that wakes takes that CPU at once
// (at nice 19 alone, a woken thread could wait for the end of a time slice).
const schedIdle = 5

// lowerPriority gives the calling thread the lowest scheduling priority:
// SCHED_IDLE, and nice 19 should that be refused.
func lowerPriority() {
	param := struct{ priority int32 }{0}
	tid := syscall.Gettid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedIdle, uintptr(unsafe.Pointer(&param))); errno == 0 {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
}
