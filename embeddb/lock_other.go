//go:build !unix

package embeddb

// dirLock does nothing where flock(2) does not exist: run one orgd per
// data directory there.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) publish(string) error { return nil }

func (*dirLock) unlock() {}

// Running cannot tell where flock(2) does not exist: it reports no process.
func Running(string) (string, error) { return "", nil }
