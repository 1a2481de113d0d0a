package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// unixPrefix marks a listen address that is a Unix socket's path: a proxy
// on the same machine (or in the same pod) then reaches orgd without the
// cost of TCP on each request.
const unixPrefix = "unix:"

// maxUnixPath is the longest socket path every Unix accepts (sun_path holds
// 104 bytes on macOS, 108 on Linux, the final NUL included).
const maxUnixPath = 103

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
		switch {
		case p == "":
			return errors.New("unix: needs the socket's path, e.g. unix:/run/orgd/orgd.sock")
		case len(p) > maxUnixPath:
			return fmt.Errorf("the socket's path is %d bytes, longer than the %d a Unix socket's may be", len(p), maxUnixPath)
		case strings.ContainsRune(p, 0):
			return errors.New("the socket's path contains a NUL byte")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("must be host:port, e.g. %s, or unix:/path", example)
	}
	return nil
}

// listenUnix listens on the socket at path. A socket file left behind by a
// process that died is replaced; one that a running server answers on, or
// a file that is not a socket, is left alone and reported.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket: remove it or choose another path", path)
		}
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another server is listening on it", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%s: cannot tell whether a server is listening on it: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("%s: cannot remove the socket a stopped server left: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The socket is created with the umask's mode; until this chmod, a
	// client of another group could connect only where the umask allows it.
	if err := os.Chmod(path, unixSocketMode); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// unixBase is the URL of a server on the socket at path, written the way
// clients that speak HTTP over a Unix socket read it (httpie's
// http+unix://, with the path escaped as the host).
func unixBase(path string) string {
	return "http+unix://" + url.PathEscape(path)
}
