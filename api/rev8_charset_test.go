package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestRev8CharsetEdges: "utf8" is a common label of UTF-8 (the WHATWG
// Encoding Standard lists it), and a request without a body has no charset
// to refuse.
func TestRev8CharsetEdges(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(`{"organization_name":"utf8","email":"a@utf8.test","password":"correct horse"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf8")
	if r := e.do(req); r.Status != 201 {
		t.Errorf("POST /org/create with charset=utf8: %d %s", r.Status, r.Raw)
	}
	req, _ = http.NewRequest("GET", e.srv.URL+"/healthz", nil)
	req.Header.Set("Content-Type", "text/plain; charset=iso-8859-1")
	if r := e.do(req); r.Status != 200 {
		t.Errorf("GET /healthz with a Content-Type charset and no body: %d %s", r.Status, r.Raw)
	}
}
