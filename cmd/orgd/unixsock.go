package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/orgd/orgd/embeddb"
)

// unixPrefix marks a listen address that is a Unix socket's path: a proxy
// on the same machine (or in the same pod) then reaches orgd without the
// cost of TCP on each request.
const unixPrefix = "unix:"

// maxUnixPath is the longest socket path every Unix accepts (sun_path holds
// 104 bytes on macOS, 108 on Linux, the final NUL included).
const maxUnixPath = 103

// bindDirPrefix and bindName name the socket while it is made: in a
// directory beside its path (the prefix and up to 10 digits), as "s".
// bindDirSuffix is the longest that adds to the directory's path.
const (
	bindDirPrefix = ".o"
	bindName      = "s"
	bindDirSuffix = "/" + bindDirPrefix + "4294967295/" + bindName
)

// unixSocketMode lets the socket's owner and group connect: a proxy running
// as another user is let in by the group, and everyone else is kept out.
const unixSocketMode = 0o660

// socketPath is the path of a unix: listen address, and whether it is one.
func socketPath(addr string) (string, bool) {
	return strings.CutPrefix(addr, unixPrefix)
}

// checkListenAddr checks a listen address: host:port, or unix: and a path;
// example is a host:port to suggest.
func checkListenAddr(addr, example string) error {
	if p, ok := socketPath(addr); ok {
		abs := p
		if p != "" && !filepath.IsAbs(p) { // clients, and the banner, name it from the root
			if a, err := filepath.Abs(p); err == nil {
				abs = a
			}
		}
		switch {
		case p == "":
			return errors.New("unix: needs the socket's path, e.g. unix:/run/orgd/orgd.sock")
		case len(abs) > maxUnixPath:
			return fmt.Errorf("the socket's path is %d bytes from the root, longer than the %d a Unix socket's may be", len(abs), maxUnixPath)
		case strings.ContainsRune(p, 0):
			return errors.New("the socket's path contains a NUL byte")
		case strings.HasPrefix(p, "@"):
			// Linux's abstract sockets have no file, so no permissions: any
			// local process could connect.
			return errors.New("the socket's path may not start with @ (an abstract socket, which any local process can reach)")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("must be host:port, e.g. %s, or unix:/path", example)
	}
	return nil
}

// sameListenAddr reports whether two listen addresses are one socket,
// however its path is written. (Two equal host:port addresses fail to
// listen with a clear error; two with port 0 are two ports.)
func sameListenAddr(a, b string) bool {
	pa, oka := socketPath(a)
	pb, okb := socketPath(b)
	if !oka || !okb {
		return false
	}
	absA, errA := filepath.Abs(pa)
	absB, errB := filepath.Abs(pb)
	return errA == nil && errB == nil && absA == absB
}

// listenUnix listens on the socket at path, for as long as the listener
// is open; closing it removes the socket. A socket left behind by a process
// that died is replaced; one that a server answers on, or a file that is
// not a socket, is left alone and reported.
func listenUnix(path string) (net.Listener, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if n := len(filepath.Dir(path)) + len(bindDirSuffix); n > maxUnixPath {
		return nil, fmt.Errorf("%s: the socket is first made in a directory of its own beside it, whose socket's path would be %d bytes, longer than the %d a Unix socket's may be: choose a directory whose path is at most %d bytes",
			path, n, maxUnixPath, maxUnixPath-len(bindDirSuffix))
	}
	// Two orgd starting on one path would each see the dead socket, and the
	// second would replace the first's live one.
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (net.Listener, error) { unlock(); return nil, err }
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return fail(fmt.Errorf("%s exists and is not a socket: remove it or choose another path", path))
		}
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return fail(fmt.Errorf("%s: another server is listening on it", path))
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fail(fmt.Errorf("%s: cannot tell whether a server is listening on it: %w", path, err))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	// The socket is bound in a directory of its own that only orgd can
	// enter, given its mode there, and then moved into place (over a dead
	// one): nobody connects while it has the umask's mode, and nothing
	// planted at the path can turn the chmod onto another file.
	tmp, err := os.MkdirTemp(filepath.Dir(path), bindDirPrefix)
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, bindName)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return fail(err)
	}
	ln.SetUnlinkOnClose(false) // its name is not bound's by then
	fi, err := os.Lstat(bound)
	if err == nil {
		err = os.Chmod(bound, unixSocketMode)
	}
	if err == nil {
		err = os.Rename(bound, path)
	}
	if err != nil {
		ln.Close()
		return fail(err)
	}
	return &unixListener{UnixListener: ln, addr: &net.UnixAddr{Name: path, Net: "unix"}, file: fi, unlock: unlock}, nil
}

// unixListener is a socket moved into place after it was bound: it names
// the place, and on close removes the socket there if it is still its own.
type unixListener struct {
	*net.UnixListener
	addr   *net.UnixAddr
	file   os.FileInfo
	unlock func()
	once   sync.Once
}

func (l *unixListener) Addr() net.Addr { return l.addr }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, err := os.Lstat(l.addr.Name); err == nil && os.SameFile(fi, l.file) {
			_ = os.Remove(l.addr.Name)
		}
		l.unlock()
	})
	return err
}

// unixBase is the URL of a server on the socket at path, written the way
// clients that speak HTTP over a Unix socket read it (httpie's
// http+unix://, the path escaped as the host).
func unixBase(path string) string {
	return "http+unix://" + embeddb.SocketHost(path)
}
