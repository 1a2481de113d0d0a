package api_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgd/orgd/api"
)

// unixClient serves e's handler on a Unix socket too, as orgd does with a
// unix: listen address, and returns a client that reaches it there.
func unixClient(t *testing.T, e *env) *http.Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orgd.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.srv.Config.Handler}
	go func() { _ = srv.Serve(api.ProblemListener(ln, slog.New(slog.DiscardHandler))) }()
	t.Cleanup(func() { srv.Close() })
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestUnixSocketPeers checks what a request over a Unix socket is taken to
// come from: the socket's peers have no address, so they are named "unix"
// and their X-Forwarded-For and X-Request-Id are ignored, unless the socket's
// peers are trusted as proxies, when the forwarded address is the client's.
func TestUnixSocketPeers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trust     bool
		wantAddr  string
		wantOwnID bool
	}{
		{"untrusted", false, api.UnixPeer, false},
		{"trusted", true, "203.0.113.9", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(d *api.Deps) { d.Security.TrustUnixPeers = tc.trust })
			e.create(acme).mustStatus(t, 201)
			watch := e.loginTokens(acme.email, acme.password)

			req, _ := http.NewRequest("POST", "http://orgd/admin/login", strings.NewReader(`{"email":"`+acme.email+`","password":"wrong password"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("X-Request-Id", "proxy-id-0001")
			res, err := unixClient(t, e).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 401 {
				t.Fatalf("login with a wrong password over the socket: %d, want 401", res.StatusCode)
			}
			if got := res.Header.Get("X-Request-Id") == "proxy-id-0001"; got != tc.wantOwnID {
				t.Errorf("the proxy's request id kept: %v, want %v", got, tc.wantOwnID)
			}
			var failed map[string]any
			for _, ev := range e.events(watch.access, "") {
				if ev["type"] == "auth.login" && ev["outcome"] == "failure" {
					failed = ev
				}
			}
			if failed == nil || failed["client_address"] != tc.wantAddr {
				t.Errorf("failed login audited as %v, want client_address %q", failed, tc.wantAddr)
			}
		})
	}
}
