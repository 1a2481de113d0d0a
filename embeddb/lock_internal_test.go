//go:build unix

package embeddb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLockForgetsTheLastAddress takes a data directory whose lock file
// still holds the address an earlier run listened on: from the moment the
// lock is taken, tools must read "still starting", not that old port.
func TestLockForgetsTheLastAddress(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, lockName)
	if err := os.WriteFile(path, []byte("mongodb://127.0.0.1:40001/"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.f.Close()
	if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
		t.Errorf("the lock file holds %q (%v) once taken, want nothing until the address is published", b, err)
	}
}
