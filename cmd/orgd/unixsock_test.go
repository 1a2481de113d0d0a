package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unixHTTP returns a client for a server whose base URL is http+unix://,
// and the http:// base its requests go to.
func unixHTTP(t *testing.T, base string) (*http.Client, string) {
	t.Helper()
	esc, ok := strings.CutPrefix(base, "http+unix://")
	if !ok {
		t.Fatalf("base %q is not a Unix socket's", base)
	}
	path, err := url.PathUnescape(esc)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, "http://orgd"
}

// TestUnixListen serves the API on a Unix socket: orgd names it in its
// start-up lines, serves on it, lets its owner and group connect, removes it
// when it stops, and replaces the socket a killed server left behind.
func TestUnixListen(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	env := map[string]string{"ORGD_ADDR": "unix:" + sock, "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": filepath.Join(dir, "data"), "ORGD_BCRYPT_COST": "4"}
	boot := func() func() error {
		t.Helper()
		base, stop := startOn(t, env)
		if want := "http+unix://" + url.PathEscape(sock); base != want {
			t.Errorf("API: %s, want %s", base, want)
		}
		c, u := unixHTTP(t, base)
		res, err := c.Post(u+"/admin/login", "application/json", strings.NewReader(`{"email":"nobody@acme.test","password":"correct horse"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("login over the socket: %d, want 401", res.StatusCode)
		}
		return stop
	}
	stop := boot()
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != unixSocketMode {
		t.Errorf("socket: %v, %v; want a socket with mode %o", fi, err, unixSocketMode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after orgd stopped: %v", err)
	}

	// A killed server's socket stays behind; the next start replaces it.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if err := boot()(); err != nil {
		t.Fatal(err)
	}
}

// TestUnixListenRefused checks that orgd leaves alone what it must not take
// over: a socket another server answers on, and a file that is not a socket.
func TestUnixListenRefused(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, want string }{
		{"unix:" + live, "another server is listening on it"},
		{"unix:" + file, "is not a socket"},
		{"unix:", "needs the socket's path"},
		{"unix:/" + strings.Repeat("d", 110), "longer than the 103"},
	} {
		env := map[string]string{"ORGD_ADDR": tc.addr, "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": filepath.Join(dir, "data"), "ORGD_BCRYPT_COST": "4"}
		err := run(context.Background(), []string{"orgd"}, func(k string) string { return env[k] }, io.Discard, logs)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ORGD_ADDR") {
			t.Errorf("ORGD_ADDR=%s: %v, want an error naming ORGD_ADDR that says %q", tc.addr, err, tc.want)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("the file in the way was changed: %q, %v", b, err)
	}
	if c, err := net.Dial("unix", live); err != nil {
		t.Errorf("the other server's socket no longer answers: %v", err)
	} else {
		c.Close()
	}
}
