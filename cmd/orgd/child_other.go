//go:build !linux

package main

import "syscall"

// childAttr is nil where the parent's death cannot be signalled to a child.
func childAttr() *syscall.SysProcAttr { return nil }
