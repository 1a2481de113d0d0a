//go:build unix

package embeddb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes the data directory for this process alone. Two FerretDB
// instances on one directory would each trust their own view of its
// metadata and damage each other's; the lock ends with the process at the
// latest, so a crash leaves nothing stale behind.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s: %w", dir, ErrDirInUse)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return func() { _ = f.Close() }, nil
}
