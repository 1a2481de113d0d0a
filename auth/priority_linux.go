package auth

import "syscall"

// lowerPriority gives the calling thread the lowest priority (nice 19).
func lowerPriority() { _ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19) }
