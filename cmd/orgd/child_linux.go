package main

import "syscall"

// childAttr makes a child process the bench starts receive SIGTERM when the
// bench dies, killed too: a server left running would hold its data
// directory. (Linux sends it when the thread that started the child ends;
// the runtime ends threads only of goroutines that locked them, which the
// bench's do not.)
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }
