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

	"github.com/orgd/orgd/mongotest"
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

// TestUnixListen serves the API and the admin listener on Unix sockets:
// orgd names them in its start-up lines, serves on them, lets its owner and
// group connect, removes them when it stops, and replaces the sockets a
// killed server left behind. Their peers' X-Request-Id is believed only
// when ORGD_TRUSTED_PROXIES says unix.
func TestUnixListen(t *testing.T) {
	dir := t.TempDir()
	sock, admin := filepath.Join(dir, "api.sock"), filepath.Join(dir, "admin@ops.sock")
	env := map[string]string{"ORGD_ADDR": "unix:" + sock, "ORGD_ADMIN_ADDR": "unix:" + admin, "ORGD_EMBEDDED_ADDR": "127.0.0.1:0",
		"ORGD_DATA_DIR": filepath.Join(dir, "data"), "ORGD_BCRYPT_COST": "4"}
	boot := func(trusted bool) func() error {
		t.Helper()
		var out mongotest.Logs
		banner, stop := startBanner(t, env, io.MultiWriter(&out, logs))
		base := banner["API"]
		if want := "http+unix://" + url.PathEscape(sock); base != want {
			t.Errorf("API: %s, want %s", base, want)
		}
		// "@" is escaped too: an http+unix:// client would read what is
		// before it as a user name.
		if want := "http+unix://" + strings.ReplaceAll(url.PathEscape(admin), "@", "%40") + "/metrics"; banner["Metrics"] != want {
			t.Errorf("Metrics: %s, want %s", banner["Metrics"], want)
		}
		if !trusted && !strings.Contains(out.String(), "add unix to ORGD_TRUSTED_PROXIES") {
			t.Errorf("no warning that the socket's peers are not trusted")
		}
		c, u := unixHTTP(t, base)
		req, _ := http.NewRequest("POST", u+"/admin/login", strings.NewReader(`{"email":"nobody@acme.test","password":"correct horse"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", "proxy-id-0001")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("login over the socket: %d, want 401", res.StatusCode)
		}
		if kept := res.Header.Get("X-Request-Id") == "proxy-id-0001"; kept != trusted {
			t.Errorf("the peer's request id kept: %v, want %v", kept, trusted)
		}
		ac, au := unixHTTP(t, strings.TrimSuffix(banner["Metrics"], "/metrics"))
		res, err = ac.Get(au + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("/metrics on the admin socket: %d", res.StatusCode)
		}
		return stop
	}
	stop := boot(false)
	for _, p := range []string{sock, admin} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != unixSocketMode {
			t.Errorf("socket: %v, %v; want a socket with mode %o", fi, err, unixSocketMode)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sock, admin} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after orgd stopped: %v", p, err)
		}
	}

	// A killed server's socket stays behind; the next start replaces it.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	env["ORGD_TRUSTED_PROXIES"] = "unix"
	if err := boot(true)(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, bindDirPrefix+"*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestListenUnixOwnsItsPath checks that while one listener holds a socket's
// path another cannot take it, and that closing removes the socket only if
// it is still the one it made.
func TestListenUnixOwnsItsPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	first, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if ln, err := listenUnix(path); err == nil || !strings.Contains(err.Error(), "another orgd") {
		t.Errorf("a second listener on a held path: %v, want an error", err)
		if ln != nil {
			ln.Close()
		}
	}
	// Someone else's socket now stands at the path: closing leaves it.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	first.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("closing removed a socket it did not make: %v", err)
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
		{"unix:@orgd", "abstract socket"},
		{"unix:/" + strings.Repeat("d", 110), "longer than the 103"},
		{"unix:" + strings.Repeat("r", 100), "bytes from the root"}, // short as written, not from the working directory
		{"unix:/" + strings.Repeat("d", 90) + "/a.sock", "choose a directory whose path is at most 88 bytes"},
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
