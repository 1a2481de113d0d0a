// Package embeddb runs FerretDB (SQLite backend) inside the orgd process, so
// that orgd needs no separately installed database.
package embeddb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Config says where the embedded database keeps its files and listens.
type Config struct {
	// Dir is the directory holding the SQLite files; it is created if absent.
	Dir string
	// Addr is the loopback TCP address to listen on; port 0 picks a free port.
	// Empty means a Unix socket in Dir instead (SocketPath), which only the
	// directory's owner can reach: the database has no authentication.
	Addr string
	// Logger receives FerretDB's own errors; nil discards them.
	Logger *slog.Logger
	// CacheKiB bounds each SQLite connection's page cache; 0 means
	// DefaultCacheKiB.
	CacheKiB int
}

// DefaultCacheKiB is the page cache of each SQLite connection unless
// Config.CacheKiB says otherwise. FerretDB keeps up to 100 connections open
// for every database file and never closes them: with SQLite's own default
// (2,000 KiB each) a server over 256 tenant databases grew from 599 to 1,017
// MiB in ten minutes of load, with 64 KiB from 296 to 395 MiB. A connection
// serves all of its file's collections, more pages than 64 KiB holds, so
// 16 KiB cost statements at most a few µs (within the noise of the runs)
// and saves about 85 KiB a connection. The operating system's file cache,
// which all connections share, still holds the pages a small cache drops.
const DefaultCacheKiB = 16

// ErrAddrInUse reports that the configured address is taken.
var ErrAddrInUse = errors.New("address already in use")

// ErrAddrUnusable reports that the configured address cannot be listened on
// for another reason (a port out of range, one this user may not take).
var ErrAddrUnusable = errors.New("cannot listen on the address")

// ErrDirInUse reports that another process has the data directory open.
var ErrDirInUse = errors.New("in use by another orgd process (a server or a tool such as orgd doctor); one at a time")

// lockName is the file in the data directory that its owner holds locked.
const lockName = "orgd.lock"

// socketDir and socketName place the embedded database's Unix socket in
// the data directory: in a directory of its own that orgd keeps at mode
// 0700 (as it keeps the data directory), since the socket itself is created
// with the process's umask and only then made 0600.
const (
	socketDir  = "socket"
	socketName = "mongodb.sock"
)

// maxSocketPath is the longest socket path every Unix accepts (sun_path
// holds 104 bytes on macOS, 108 on Linux, the final NUL included).
const maxSocketPath = 103

// SocketPath is where the server on directory dir listens when Config.Addr
// is empty.
func SocketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %q: %w", dir, err)
	}
	if strings.Contains(abs, ":") {
		return "", fmt.Errorf("data directory %s: %w", abs, ErrDirName)
	}
	p := filepath.Join(abs, socketDir, socketName)
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("socket path %s is %d bytes, longer than the %d a Unix socket's may be: %w", p, len(p), maxSocketPath, ErrPathTooLong)
	}
	return p, nil
}

// ErrPathTooLong reports a data directory too deep for the socket.
var ErrPathTooLong = errors.New("data directory path too long")

// SocketURI is the mongodb:// address of the socket at path, escaped as
// SocketHost does.
func SocketURI(path string) string {
	return "mongodb://" + SocketHost(path) + "/"
}

// SocketHost is the socket at path written as a URL's host: every byte but
// letters, digits and "-._~" escaped. A client would read an "@" as a user
// name's end and a "+" as a space.
func SocketHost(path string) string {
	var b strings.Builder
	for _, c := range []byte(path) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// ErrDirName reports a data directory whose path the embedded database
// cannot name: its SQLite URL takes no '%', '?' or '#'; it finds its files
// with a glob pattern, in which '*', '[' and '\' are not themselves (a
// directory it cannot find its files in is one whose databases it would
// take for missing, and drop the first time it recreated one); and the
// driver splits a socket's address at ':' even when it is escaped (a
// loopback port, Config.Addr, has no such limit).
var ErrDirName = errors.New("the data directory's path may not contain '%', '?', '#', '*', '[' or '\\', nor ':' unless the database listens on a port (ORGD_EMBEDDED_ADDR)")

// Server is a running embedded FerretDB.
type Server struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts FerretDB and returns once it accepts connections.
func Start(cfg Config) (*Server, error) {
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("data directory %q: %w", cfg.Dir, err)
	}
	if strings.ContainsAny(dir, `%?#*[\`) {
		return nil, fmt.Errorf("data directory %s: %w", dir, ErrDirName)
	}
	if cfg.Addr == "" { // before anything is created: a refused directory is left as it was
		if _, err := SocketPath(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := ownerOnly(dir, cfg.Logger); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	// ferretdb.New leaves its storage open when the listener cannot be bound,
	// and a finalizer later panics; so prove the address is free first.
	listener := ferretdb.ListenerConfig{TCP: cfg.Addr}
	if cfg.Addr == "" {
		listener.Unix, err = freeSocket(dir)
	} else {
		err = checkAddr(cfg.Addr)
	}
	if err != nil {
		lock.unlock()
		return nil, err
	}

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sqliteSettings() // refused only if SQLite had a connection first: then it keeps its defaults
	if err := removeUnfinished(dir, logger); err != nil {
		lock.unlock()
		return nil, fmt.Errorf("embedded database: %w", err)
	}
	// At WARN and below FerretDB logs every failed command and disconnect.
	logger = slog.New(levelFloor{logger.Handler(), slog.LevelError})
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  listener,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(dir, cfg.CacheKiB),
		Logger:    logger,
	})
	if err != nil {
		lock.unlock()
		return nil, fmt.Errorf("embedded database: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{dir: dir, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer lock.unlock() // once FerretDB has closed its files
		_ = f.Run(ctx)
	}()
	s.uri = f.MongoDBURI() // blocks until the listener is bound
	if listener.Unix != "" {
		if err := os.Chmod(listener.Unix, 0o600); err != nil {
			_ = s.Stop(context.Background())
			return nil, fmt.Errorf("embedded database socket: %w", err)
		}
		s.uri = SocketURI(listener.Unix)
	}
	if err := lock.publish(s.uri); err != nil {
		_ = s.Stop(context.Background())
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return s, nil
}

// sqliteURL is FerretDB's address for the SQLite files in dir, whose
// connections each cache at most cacheKiB of pages (0: DefaultCacheKiB).
func sqliteURL(dir string, cacheKiB int) string {
	if cacheKiB <= 0 {
		cacheKiB = DefaultCacheKiB
	}
	// A negative cache_size is in KiB rather than pages.
	return fmt.Sprintf("file:%s/?_pragma=cache_size(-%d)", dir, cacheKiB)
}

// URI is the mongodb:// address clients connect to.
func (s *Server) URI() string { return s.uri }

// DatabaseNames lists the server's databases: FerretDB keeps each in a file
// <name>.sqlite in its directory. The listDatabases command gives the same
// names, but FerretDB computes every database's size for it, whatever the
// command asks: 28 s for the data of 10,000 organizations on a 2-core
// machine, where reading the directory takes under a millisecond.
func (s *Server) DatabaseNames(context.Context) ([]string, error) { return DatabaseNames(s.dir) }

// DatabaseNames lists the databases in directory dir, as the method does.
func DatabaseNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), sqliteExt); ok && name != "" && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	return names, nil
}

// HasDatabase reports whether directory dir holds database name.
func HasDatabase(dir, name string) bool {
	fi, err := os.Stat(filepath.Join(dir, name+sqliteExt))
	return err == nil && fi.Mode().IsRegular()
}

// sqliteExt ends the name of each database's file (FerretDB's
// internal/backends/sqlite/metadata/pool).
const sqliteExt = ".sqlite"

// Stop stops the server and waits, at most until ctx ends, for it to close its
// files. Disconnect clients first: FerretDB waits for open connections.
func (s *Server) Stop(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("embedded database did not stop: %w", ctx.Err())
	}
}

// ownerOnly makes dir reachable by its owner alone. FerretDB creates its
// files with the process's umask (0644 under the usual 022), and they hold
// the admins' password hashes and every tenant's data; the database itself
// has no authentication.
func ownerOnly(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if fi.Mode()&os.ModeSticky != 0 || fi.Mode().Perm()&0o002 != 0 {
		// A directory everyone writes to (/tmp): restricting it would take
		// it from everyone else, and others' files could sit among orgd's.
		return fmt.Errorf("data directory %s is shared by all users (mode %s): use a directory of orgd's own, "+
			"such as a new subdirectory, which orgd creates at mode 0700", dir, fi.Mode().Perm()|fi.Mode()&os.ModeSticky)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("data directory %s can be read by other users (mode %04o) and cannot be restricted to its owner "+
			"(use a directory of orgd's own user, such as a new subdirectory, which orgd creates at mode 0700): %w",
			dir, fi.Mode().Perm(), err)
	}
	if log != nil {
		log.Warn("data directory restricted to its owner: it held password hashes and tenant data that other users could read",
			"dir", dir, "was", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return nil
}

// freeSocket returns the socket path for dir, with any socket a process
// that died left there removed: the directory's lock, held here, says that
// no process uses it.
func freeSocket(dir string) (string, error) {
	p, err := SocketPath(dir)
	if err != nil {
		return "", err
	}
	sd := filepath.Dir(p)
	if err := os.MkdirAll(sd, 0o700); err != nil {
		return "", fmt.Errorf("embedded database socket: %w", err)
	}
	if err := os.Chmod(sd, 0o700); err != nil {
		return "", fmt.Errorf("embedded database socket: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("embedded database socket: %w", err)
	}
	return p, nil
}

func checkAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("address %q is not a loopback address", addr)
	}
	l, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s: %w", addr, ErrAddrInUse)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrAddrUnusable, err)
	}
	return l.Close()
}

// levelFloor drops records below a minimum level.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}
