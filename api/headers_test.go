package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orgd/orgd/api"
)

// TestSecurityHeaders checks the headers of every kind of response: answers,
// problems, unknown routes, the OpenAPI document, the JWKS and the docs page.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	tok := e.loginTokens(acme.email, acme.password)
	send := func(method, path, token string, body any) response {
		return e.call(method, path, token, body)
	}
	cases := map[string]response{
		"get":       send("GET", "/org/get?organization_name=acme", "", nil),
		"admin get": send("GET", "/org/get?organization_name=acme", tok.access, nil),
		"login":     send("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}),
		"refresh":   send("POST", "/admin/refresh", "", map[string]string{"refresh_token": tok.refresh}),
		"401":       send("GET", "/org/audit", "bad", nil),
		"422":       send("POST", "/org/create", "", map[string]string{}),
		"404":       send("GET", "/nope", "", nil),
		"405":       send("PATCH", "/org/get", "", nil),
		"openapi":   send("GET", "/openapi.json", "", nil),
		"jwks":      send("GET", "/.well-known/jwks.json", "", nil),
		"docs":      send("GET", "/docs/", "", nil),
		"docs redirect": func() response {
			req, _ := http.NewRequest("GET", e.srv.URL+"/docs", nil)
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return response{Status: res.StatusCode, Header: res.Header}
		}(),
	}
	for name, r := range cases {
		h := r.Header
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if h.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", name, k, h.Get(k), want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		docs := strings.HasPrefix(name, "docs")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") != docs {
			t.Errorf("%s: CSP %q", name, csp)
		}
		if !docs && !strings.HasPrefix(csp, "default-src 'none';") {
			t.Errorf("%s: CSP %q is not strict", name, csp)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", name)
		}
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS answered although it is off", name)
		}
		switch cc := h.Get("Cache-Control"); {
		case name == "jwks":
			if !strings.HasPrefix(cc, "public, max-age=") {
				t.Errorf("jwks: Cache-Control %q", cc)
			}
		case !docs && cc != "no-store":
			t.Errorf("%s: Cache-Control %q, want no-store", name, cc)
		}
	}
	if cases["jwks"].Header.Get("Content-Type") != "application/jwk-set+json" || cases["jwks"].Raw != `{"keys":[]}` {
		t.Errorf("HS256 JWKS: %s %s", cases["jwks"].Header.Get("Content-Type"), cases["jwks"].Raw)
	}
	// CORS is off: a preflight is an unknown method.
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/org/get", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	if r := e.do(req); r.Status != 405 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight with CORS off: %d %v", r.Status, r.Header)
	}
}

// TestCORS checks that configured origins, and only they, get CORS answers.
func TestCORS(t *testing.T) {
	e := newEnv(t, func(d *api.Deps) { d.Security.CORSOrigins = []string{"https://app.example.com"} })
	preflight := func(origin string) response {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/org/update", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "PUT")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		return e.do(req)
	}
	r := preflight("https://app.example.com")
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PUT") || r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("allowed preflight: %d %v", r.Status, r.Header)
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} { // every method a route has
		if !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), m) {
			t.Errorf("preflights do not allow %s: %v", m, r.Header.Get("Access-Control-Allow-Methods"))
		}
	}
	if r := preflight("https://evil.example.com"); r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin got CORS headers: %v", r.Header)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/healthz", nil)
	req.Header.Set("Origin", "https://app.example.com")
	if r := e.do(req); r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(r.Header.Get("Vary"), "Origin") ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("simple request: %v", r.Header)
	}
}
