//go:build unix

package embeddb

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// dirLock is the lock on a data directory; the file also holds the
// address the embedded database listens on, for tools to find.
type dirLock struct{ f *os.File }

// lockDir takes the data directory for this process alone. Two FerretDB
// instances on one directory would each trust their own view of its
// metadata and damage each other's; the lock ends with the process at the
// latest, so a crash leaves nothing stale behind.
func lockDir(dir string) (*dirLock, error) {
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
	// The address of an earlier run is no longer true: until publish, tools
	// must see a server that is still starting, not an old port.
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	return &dirLock{f}, nil
}

// publish records uri in the lock file.
func (l *dirLock) publish(uri string) error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(uri), 0)
	return err
}

func (l *dirLock) unlock() { _ = l.f.Close() }

// Running returns the address of the embedded database a running process
// serves from dir, or "" when no process has dir open.
func Running(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		return "", nil // nobody holds it
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("data directory %s: %w; it is still starting, retry shortly", dir, ErrDirInUse)
	}
	return string(b), nil
}
