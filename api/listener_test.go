package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRequestsNetHTTPRefuses checks the requests that net/http answers
// itself, before any handler runs: each gets a problem document with a 4xx
// that says what was wrong, never a plain-text answer or a 5xx.
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
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, ct, body := rawRequest(t, addr, tt.req)
			if status != tt.status || ct != "application/problem+json" {
				t.Fatalf("%d, Content-Type %q, body %q; want %d application/problem+json", status, ct, body, tt.status)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("body %q (%v): want status %d and a detail saying %q", body, err, tt.status, tt.detail)
			}
		})
	}
	// The connection that carried a refused request is closed; others serve on.
	e.call("GET", "/healthz", "", nil).mustStatus(t, 200)
}
