package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHTTPEdges checks requests at the edges of HTTP: each gets a problem
// document (or a plain success), never a bare or plain-text answer.
func TestHTTPEdges(t *testing.T) {
	e := newEnv(t)
	// Media types are case-insensitive, and an Accept naming none is ignored.
	req, _ := http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(`{"organization_name":"casey","email":"a@casey.test","password":"correct horse"}`))
	req.Header.Set("Content-Type", "Application/JSON; Charset=UTF-8")
	e.do(req).mustStatus(t, 201)
	// So is space before the parameters (RFC 9110 5.6.6).
	req, _ = http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(`{"organization_name":"spacey","email":"a@spacey.test","password":"correct horse"}`))
	req.Header.Set("Content-Type", "application/json ; charset=utf-8")
	e.do(req).mustStatus(t, 201)
	// Another type stays refused, whatever its parameters.
	for _, ct := range []string{"text/plain; *0=x", "Text/Plain; *0=x", "text/plain ; charset=utf-8", "application/x-www-form-urlencoded; *=utf-8''x"} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(`{"organization_name":"plain","email":"a@plain.test","password":"correct horse"}`))
		req.Header.Set("Content-Type", ct)
		e.do(req).isProblem(t, 415)
	}
	for _, path := range []string{"/org/get?organization_name=nope", "/org/get"} {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("Accept", "json")
		if r := e.do(req); r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s with Accept: json: %d, Content-Type %q", path, r.Status, r.Header.Get("Content-Type"))
		}
	}
	// A number no JSON decoder can hold: said without naming Go types.
	r := e.call("POST", "/org/create", "", `{"organization_name":"abc","email":"a@b.test","password":"12345678","x":1e999}`)
	r.isProblem(t, 400)
	if strings.Contains(r.Raw, "Go value") || strings.Contains(r.Raw, "float64") {
		t.Errorf("the problem names Go internals: %s", r.Raw)
	}
	// A compressed body is refused (RFC 9110 8.4.1), not read as its bytes.
	// Every line and list member counts, not only the first.
	for _, ce := range [][]string{{"gzip"}, {"br"}, {"identity", "gzip"}, {"identity, gzip"}} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/org/create", strings.NewReader(`{"organization_name":"zippy","email":"a@zippy.test","password":"correct horse"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header["Content-Encoding"] = ce
		r := e.do(req)
		r.isProblem(t, 415)
		if r.Header.Get("Accept-Encoding") != "identity" {
			t.Errorf("Content-Encoding %s: Accept-Encoding %q", ce, r.Header.Get("Accept-Encoding"))
		}
	}
	// JSON is UTF-8: a body said to be in another charset would be read
	// as UTF-8 all the same, so it is refused, on records as elsewhere.
	for _, path := range []string{"/org/create", "/org/records"} {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(`{"organization_name":"latin","email":"a@latin.test","password":"correct horse"}`))
		req.Header.Set("Content-Type", "application/json; charset=ISO-8859-1")
		r := e.do(req)
		r.isProblem(t, 415)
		if !strings.Contains(r.Raw, `charset \"ISO-8859-1\" is not supported`) {
			t.Errorf("POST %s in Latin-1: %s", path, r.Raw)
		}
	}
	// The request target *, meaning the server itself.
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	if status, ct, body := rawRequest(t, addr, "GET * HTTP/1.1\r\nHost: x\r\n\r\n"); status != 400 || ct != "application/problem+json" {
		t.Errorf("GET *: %d %q %q", status, ct, body)
	}
}

// TestAcceptHeaders checks that no Accept header, however malformed, turns a
// request into a 500 or into an answer in anything but JSON.
func TestAcceptHeaders(t *testing.T) {
	e := newEnv(t)
	for _, accept := range []string{
		"text/html;q,*/*",
		"application/json; v, */*",
		"application/json;q=",
		"json, text/html",
		"json",
		";;;,,,",
		"application/json;q=0, */*",
		"application/json;q=0.5;level=1, text/html;q=0.9",
		"*/*;q=NaN",
		"text/html",
	} {
		for _, c := range []struct {
			path   string
			status int
			ct     string
		}{
			{"/healthz", 200, "application/json"},
			{"/org/get?organization_name=nope", 404, "application/problem+json"},
		} {
			req, _ := http.NewRequest("GET", e.srv.URL+c.path, nil)
			req.Header.Set("Accept", accept)
			if r := e.do(req); r.Status != c.status || r.Header.Get("Content-Type") != c.ct {
				t.Errorf("GET %s with Accept %q: %d, Content-Type %q, want %d %s", c.path, accept, r.Status, r.Header.Get("Content-Type"), c.status, c.ct)
			}
		}
	}
}

// TestMalformedQuery checks that a query string that cannot be unescaped is
// refused, instead of read as if the parameter were absent.
func TestMalformedQuery(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/org/get?organization_name=acme%zz", tok},
		{"GET", "/org/get?organization_name=acme%zz", ""},
		{"DELETE", "/org/delete?organization_name=acme%zz", tok},
		{"GET", "/org/audit?limit=1;2", tok},
	} {
		r := e.call(c.method, c.path, c.token, nil)
		r.isProblem(t, 422)
		if !strings.Contains(r.Raw, "query string is malformed") {
			t.Errorf("%s %s: %s", c.method, c.path, r.Raw)
		}
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).mustStatus(t, 200)
}

// TestCharsetEdges checks what the charset check lets through: "utf8", a
// common label of UTF-8 (the WHATWG Encoding Standard lists it), and a
// request without a body, which has no charset to refuse.
func TestCharsetEdges(t *testing.T) {
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
