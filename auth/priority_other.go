//go:build !linux

package auth

// lowerPriority is a no-op where threads cannot be reprioritized portably.
func lowerPriority() {}
