package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgd/orgd/console"
)

// TestConsoleServed checks the console's routes and the headers that keep
// its page to orgd's own scripts and styles.
func TestConsoleServed(t *testing.T) {
	e := newEnv(t)
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(e.srv.URL + "/console")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 301 || res.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d to %q, want 301 to /console/", res.StatusCode, res.Header.Get("Location"))
	}

	for path, ctype := range map[string]string{
		"/console/":         "text/html",
		"/console/app.js":   "text/javascript",
		"/console/app.css":  "text/css",
		"/console/icon.svg": "image/svg+xml",
	} {
		r := e.call("GET", path, "", nil).mustStatus(t, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, ctype) {
			t.Errorf("%s: Content-Type %q, want %s", path, ct, ctype)
		}
		if csp := r.Header.Get("Content-Security-Policy"); csp != console.Policy {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("ETag") == "" {
			t.Errorf("%s: headers %v", path, r.Header)
		}
		// Unchanged files are revalidated, not sent again.
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("If-None-Match", r.Header.Get("ETag"))
		e.do(req).mustStatus(t, 304)
	}
	e.call("GET", "/console/nope.js", "", nil).isProblem(t, 404)
	e.call("POST", "/console/", "", "{}").isProblem(t, 405)

	// A range past a file's end is a problem too; one within it is served.
	for _, path := range []string{"/console/", "/console/app.js"} {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("Range", "bytes=100000000-")
		r := e.do(req)
		r.isProblem(t, 416)
		if !strings.HasPrefix(r.Header.Get("Content-Range"), "bytes */") {
			t.Errorf("%s: a 416 without the size: Content-Range %q", path, r.Header.Get("Content-Range"))
		}
		req.Header.Set("Range", "bytes=0-9")
		if r := e.do(req).mustStatus(t, 206); len(r.Raw) != 10 {
			t.Errorf("%s, bytes 0-9: %q", path, r.Raw)
		}
		// So is a condition that fails.
		req, _ = http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("If-Match", `"x"`)
		e.do(req).isProblem(t, 412)
	}
	// A route is named as sent: an encoded slash is not a slash.
	r := e.call("GET", "/org%2Fget", "", nil)
	r.isProblem(t, 404)
	if !strings.Contains(r.Raw, "/org%2Fget") {
		t.Errorf("GET /org%%2Fget: %s", r.Raw)
	}
}
