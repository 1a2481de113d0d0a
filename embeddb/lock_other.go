//go:build !unix

package embeddb

// lockDir does nothing where flock(2) does not exist: run one orgd per
// data directory there.
func lockDir(string) (func(), error) { return func() {}, nil }
