package api_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/metrics"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"github.com/prometheus/client_golang/prometheus"
)

// newObservedEnv is newEnv with JSON logs, as orgd writes them in production,
// and metrics; with separateAdmin the docs and metrics are on e.admin.
func newObservedEnv(t *testing.T, separateAdmin bool, opts ...func(*api.Deps)) (e *env, admin *httptest.Server) {
	t.Helper()
	db := mongotest.New(t)
	logs := &mongotest.Logs{}
	logger := slog.New(api.WithRequestID(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, Logger: logger})
	tokens, err := auth.NewTokens([]byte(testSecret), 15*time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := auth.NewPasswords(4)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.Build{Version: "test"}, time.Now)
	d := api.Deps{Store: store, Tokens: tokens, Passwords: m.Passwords(passwords), Logger: logger, Version: "test",
		Metrics: m, MetricsHandler: metrics.Handler(reg, logger), SeparateAdmin: separateAdmin}
	for _, o := range opts {
		o(&d)
	}
	s := api.NewServer(d)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	if h := s.AdminHandler(); h != nil {
		admin = httptest.NewServer(h)
		t.Cleanup(admin.Close)
	} else if separateAdmin {
		t.Fatal("AdminHandler is nil with SeparateAdmin")
	}
	return &env{t: t, srv: srv, db: db, store: store, tokens: tokens, logs: logs}, admin
}

// requestLines returns the request lines logged so far, decoded.
func requestLines(t *testing.T, logs *mongotest.Logs) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		if line["msg"] == "request" {
			out = append(out, line)
		}
	}
	return out
}

// TestRequestID checks that a valid X-Request-ID from a trusted proxy is
// kept, anything else (and any id from another peer) is replaced, and the id
// is in the response header and every problem body.
func TestRequestID(t *testing.T) {
	direct, _ := newObservedEnv(t, false)
	req, _ := http.NewRequest("GET", direct.srv.URL+"/org/get?organization_name=nope", nil)
	req.Header.Set("X-Request-ID", "client-chosen-1")
	if r := direct.do(req); r.Header.Get("X-Request-ID") == "client-chosen-1" || r.JSON["request_id"] == "client-chosen-1" {
		t.Errorf("an untrusted client chose its request id: %s", r.Raw)
	}

	e, _ := newObservedEnv(t, false, behindProxy)
	e.create(acme).mustStatus(t, 201)
	get := func(path, id string) response {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		return e.do(req)
	}
	for _, tt := range []struct{ name, sent string }{
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"base64", "YWJj+/ZGVm="},
		{"max length", strings.Repeat("a", 128)},
	} {
		if got := get("/healthz", tt.sent).Header.Get("X-Request-ID"); got != tt.sent {
			t.Errorf("%s: X-Request-ID %q, want %q kept", tt.name, got, tt.sent)
		}
	}
	seen := map[string]bool{}
	for _, tt := range []struct{ name, sent string }{
		{"none", ""},
		{"too long", strings.Repeat("a", 129)},
		{"space", "a b"},
		{"quote", `a"b`},
		{"log forging", "a\\nlevel=ERROR"},
		{"non-ASCII", "é"},
	} {
		got := get("/healthz", tt.sent).Header.Get("X-Request-ID")
		if got == "" || got == tt.sent || seen[got] {
			t.Errorf("%s: X-Request-ID %q, want a new id", tt.name, got)
		}
		seen[got] = true
	}

	tok := e.login(acme.email, acme.password)
	problems := map[string]response{
		"validation (huma)":      e.call("POST", "/org/create", "", map[string]string{"organization_name": "x"}),
		"handler error":          e.call("GET", "/org/get?organization_name=nope", "", nil),
		"auth middleware":        e.call("PUT", "/org/update", "", map[string]string{"email": "b@acme.test"}),
		"forbidden":              e.call("DELETE", "/org/delete?organization_name=other", tok, nil),
		"unknown route (mux)":    e.call("GET", "/nope", "", nil),
		"wrong method (mux)":     e.call("PATCH", "/org/get", "", nil),
		"malformed JSON (huma)":  e.call("POST", "/org/create", "", `{"organization_name":`),
		"given id kept in body":  get("/org/get?organization_name=nope", "client-chosen-1"),
		"unsupported media type": e.call("POST", "/org/create", "", nil),
	}
	for name, r := range problems {
		id := r.Header.Get("X-Request-ID")
		if r.Status < 400 || id == "" || r.JSON["request_id"] != id {
			t.Errorf("%s: status %d, header id %q, body %s", name, r.Status, id, r.Raw)
		}
	}
	if problems["given id kept in body"].JSON["request_id"] != "client-chosen-1" {
		t.Errorf("the client's id is not in the problem: %s", problems["given id kept in body"].Raw)
	}
}

// TestRequestLog checks the request lines: JSON with the route pattern,
// status, duration, size, request id and the caller's organization, and no
// secret.
func TestRequestLog(t *testing.T) {
	e, _ := newObservedEnv(t, false)
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	o, err := e.store.OrganizationByName(t.Context(), acme.name)
	if err != nil {
		t.Fatal(err)
	}
	got := e.call("GET", "/org/get?organization_name=acme", tok, nil).mustStatus(t, 200)
	e.call("PUT", "/org/update", tok, map[string]string{"password": "another secret"}).mustStatus(t, 200)
	e.call("GET", "/org/get?organization_name=secret-name", "", nil).mustStatus(t, 404)
	e.call("GET", "/private/path", "", nil).mustStatus(t, 404)
	e.call("PUT", "/org/update", "forged.token.value", map[string]string{"email": "c@acme.test"}).mustStatus(t, 401)

	lines := requestLines(t, e.logs)
	if len(lines) != 7 {
		t.Fatalf("%d request lines for 7 requests:\n%s", len(lines), e.logs.String())
	}
	want := []struct {
		method, route string
		status        float64
		org           bool
	}{
		{"POST", "/org/create", 201, false},
		{"POST", "/admin/login", 200, false},
		{"GET", "/org/get", 200, true},
		{"PUT", "/org/update", 200, true},
		{"GET", "/org/get", 404, false},
		{"GET", "unmatched", 404, false},
		{"PUT", "/org/update", 401, false},
	}
	for i, w := range want {
		l := lines[i]
		if l["method"] != w.method || l["route"] != w.route || l["status"] != w.status {
			t.Errorf("line %d: %v, want %s %s %v", i, l, w.method, w.route, w.status)
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("line %d: duration_ms %v", i, l["duration_ms"])
		}
		if b, ok := l["bytes"].(float64); !ok || b <= 0 {
			t.Errorf("line %d: bytes %v", i, l["bytes"])
		}
		if id, _ := l["request_id"].(string); id == "" {
			t.Errorf("line %d without request_id", i)
		}
		if org, _ := l["org_id"].(string); w.org && org != o.ID || !w.org && org != "" {
			t.Errorf("line %d: org_id %q, want %q", i, org, map[bool]string{true: o.ID}[w.org])
		}
	}
	if lines[2]["request_id"] != got.Header.Get("X-Request-ID") {
		t.Errorf("logged request id %v, answered %q", lines[2]["request_id"], got.Header.Get("X-Request-ID"))
	}
	if lines[2]["bytes"] != float64(len(got.Raw)) {
		t.Errorf("logged %v bytes, sent %d", lines[2]["bytes"], len(got.Raw))
	}
	all := e.logs.String()
	for line := range strings.Lines(all) {
		if strings.Count(line, `"request_id":`) > 1 { // JSON consumers refuse or drop duplicate keys
			t.Errorf("request_id twice in %s", line)
		}
	}
	for _, secret := range []string{acme.password, "another secret", tok, "forged.token.value", "Bearer", "Authorization",
		"secret-name", "/private/path", acme.email, "$2a$"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}

// TestAdminListener checks that with a separate admin handler the metrics
// and docs are served there and not on the public one.
func TestAdminListener(t *testing.T) {
	e, admin := newObservedEnv(t, true)
	for _, p := range []string{"/metrics", "/docs/", "/openapi.json", "/openapi.yaml"} {
		e.call("GET", p, "", nil).isProblem(t, 404)
		res, err := admin.Client().Get(admin.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("admin %s: %d", p, res.StatusCode)
		}
	}
	e.call("GET", "/healthz", "", nil).mustStatus(t, 200)
	docsPage := func(base string) string {
		t.Helper()
		res, err := http.Get(base + "/docs/")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	// The docs there cannot "try it out": requests would go to the admin
	// listener, which serves no API route.
	if r, err := http.Get(admin.URL + "/docs/nope.js"); err != nil || r.StatusCode != 404 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("an unknown docs file: %v, %v; want a 404 problem", r, err)
	} else {
		r.Body.Close()
	}
	if page := docsPage(admin.URL); !strings.Contains(page, "supportedSubmitMethods: []") {
		t.Error("the admin listener's docs page offers to try requests it cannot send")
	}
	res, err := admin.Client().Get(admin.URL + "/org/get?organization_name=acme")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/problem+json" || res.Header.Get("X-Request-ID") == "" {
		t.Errorf("the admin listener answers an API route: %d %v", res.StatusCode, res.Header)
	}

	// On one listener, everything is together.
	one, _ := newObservedEnv(t, false)
	for _, p := range []string{"/metrics", "/docs/", "/openapi.json"} {
		one.call("GET", p, "", nil).mustStatus(t, 200)
	}
	if page := docsPage(one.srv.URL); strings.Contains(page, "supportedSubmitMethods") {
		t.Error("the docs page on the API's own listener cannot try requests")
	}
	doc := one.call("GET", "/openapi.json", "", nil)
	schemas := doc.JSON["components"].(map[string]any)["schemas"].(map[string]any)
	props := schemas["ErrorModel"].(map[string]any)["properties"].(map[string]any)
	if props["request_id"] == nil {
		t.Error("the OpenAPI problem schema does not document request_id")
	}
}
