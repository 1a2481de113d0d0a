package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestRequestsNetHTTPRefuses checks the requests that net/http answers
// itself, before any handler runs: each gets a problem document with a 4xx
// that says what was wrong, never a plain-text or empty answer or a 5xx,
// with the headers every response carries and a request id, also on the
// request's log line.
func TestRequestsNetHTTPRefuses(t *testing.T) {
	e := newEnv(t)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	big := strings.Repeat("a", 1<<20+10_000) // past the default 1 MiB of head
	for _, tt := range []struct {
		name, req string
		status    int
		detail    string
	}{
		{"malformed request line", "NOT HTTP AT ALL\r\n\r\n", 400, "its request line or a header field is malformed"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"bad header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, "invalid header name"},
		{"head too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", 431, "header fields are too large"},
		{"unknown transfer coding", "POST /org/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "Transfer-Encoding is not supported"},
		{"HTTP version", "GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n", 400, "HTTP version is not supported"},
		{"Expect", "POST /admin/login HTTP/1.1\r\nHost: x\r\nExpect: something\r\nContent-Length: 2\r\n\r\n{}", 417, "Expect header is not supported"},
		{"Expect over HTTP/1.0", "POST /admin/login HTTP/1.0\r\nExpect: something\r\nContent-Length: 2\r\n\r\n{}", 417, "Expect header is not supported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := rawResponse(t, addr, tt.req)
			if ct := res.Header.Get("Content-Type"); res.StatusCode != tt.status || ct != "application/problem+json" {
				t.Fatalf("%d, Content-Type %q, body %q; want %d application/problem+json", res.StatusCode, ct, body, tt.status)
			}
			var p struct {
				Status    int    `json:"status"`
				Detail    string `json:"detail"`
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("body %q (%v): want status %d and a detail saying %q", body, err, tt.status, tt.detail)
			}
			for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Strict-Transport-Security", "Cache-Control"} {
				if res.Header.Get(h) == "" {
					t.Errorf("no %s header", h)
				}
			}
			id := res.Header.Get("X-Request-Id")
			if id == "" || p.RequestID != id {
				t.Errorf("request id %q in the header, %q in the body: want one, in both", id, p.RequestID)
			}
			logged := false
			for _, l := range strings.Split(e.logs.String(), "\n") {
				logged = logged || strings.Contains(l, " msg=request ") && strings.Contains(l, " request_id="+id) &&
					strings.Contains(l, fmt.Sprintf(" status=%d ", tt.status))
			}
			if !logged {
				t.Errorf("no request line with id %q and status %d:\n%s", id, tt.status, e.logs)
			}
		})
	}
	// The connection that carried a refused request is closed; others serve on.
	e.call("GET", "/healthz", "", nil).mustStatus(t, 200)
}
