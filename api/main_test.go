package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/internal/leakcheck"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// logs receives every log line of the package's tests; TestMain fails the
// run if any holds a password, hash or token that a test used (see leak_test.go).
var logs = leakcheck.New()

func TestMain(m *testing.M) { os.Exit(logs.Check(mongotest.Main(m))) }

// env is one test's running orgd: a real HTTP server over a fresh database.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	db     *mongotest.DB
	store  *mongodb.Store
	tokens *auth.Tokens
	logs   *mongotest.Logs
	// tenancy of new organizations: ORGD_TEST_TENANCY, or collection.
	tenancy string
}

const testSecret = "test-secret-0123456789abcdef-0123456789"

// newEnv uses a long-lived cache, so that every test also checks that the
// process's own writes are seen at once; opts may change the server's collaborators.
func newEnv(t testing.TB, opts ...func(*api.Deps)) *env {
	t.Helper()
	db := mongotest.New(t)
	return newEnvOn(t, db, db.Client, time.Minute, opts...)
}

// newEnvOn is newEnv with the store using client, which may point elsewhere,
// and a cache synced every cacheSync (0: no cache).
func newEnvOn(t testing.TB, db *mongotest.DB, client *mongo.Client, cacheSync time.Duration, opts ...func(*api.Deps)) *env {
	t.Helper()
	return newEnvWith(t, db, client, cacheSync, nil, opts...)
}

// newEnvWith is newEnvOn with configure adjusting the store's configuration.
// The tenancy model of new organizations is ORGD_TEST_TENANCY's (collection
// when unset).
func newEnvWith(t testing.TB, db *mongotest.DB, client *mongo.Client, cacheSync time.Duration, configure func(*mongodb.Config), opts ...func(*api.Deps)) *env {
	t.Helper()
	buf := &mongotest.Logs{}
	logger := slog.New(slog.NewTextHandler(logs.Tee(buf), &slog.HandlerOptions{Level: slog.LevelDebug}))
	logs.Secret("JWT secret", testSecret)
	cfg := mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, Logger: logger, CacheSync: cacheSync,
		Tenancy: os.Getenv("ORGD_TEST_TENANCY"), TenantDBPrefix: db.Prefix, MoveDrain: cacheSync + 50*time.Millisecond}
	if configure != nil {
		configure(&cfg)
	}
	store := mongodb.NewStore(client, cfg)
	t.Cleanup(store.Close)
	tokens, err := auth.NewTokens([]byte(testSecret), 15*time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	passwords, err := auth.NewPasswords(4)
	if err != nil {
		t.Fatal(err)
	}
	deps := api.Deps{Store: store, Records: store, Tokens: tokens, Passwords: recordHashes{passwords}, Logger: logger, Version: "test", Operator: store}
	for _, o := range opts {
		o(&deps)
	}
	s := api.NewServer(deps)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener = api.ProblemListener(srv.Listener, logger) // as orgd serves
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, db: db, store: store, tokens: tokens, logs: buf, tenancy: cmp.Or(cfg.Tenancy, "collection")}
}

// response is an HTTP answer with its body decoded as JSON (when it is).
type response struct {
	Status int
	Header http.Header
	Raw    string
	JSON   map[string]any
}

// call sends a request; body is marshalled to JSON unless it is a string.
func (e *env) call(method, path, token string, body any) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	registerSecrets(body)
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.JSON)
	registerTokens(req, out)
	return out
}

// mustStatus fails the test unless r has status want.
func (r response) mustStatus(t testing.TB, want int) response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body: %s", r.Status, want, r.Raw)
	}
	return r
}

// isProblem checks that r is an RFC 9457 problem with the given status.
func (r response) isProblem(t testing.TB, status int) {
	t.Helper()
	r.mustStatus(t, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if r.JSON["status"] != float64(status) || r.JSON["title"] == nil {
		t.Errorf("not a problem document: %s", r.Raw)
	}
	if d, _ := r.JSON["detail"].(string); d == "" {
		t.Errorf("problem without detail: %s", r.Raw)
	}
}

type org struct{ name, email, password string }

func (e *env) create(o org) response {
	e.t.Helper()
	return e.call("POST", "/org/create", "", map[string]string{
		"organization_name": o.name, "email": o.email, "password": o.password,
	})
}

func (e *env) login(email, password string) string {
	e.t.Helper()
	r := e.call("POST", "/admin/login", "", map[string]string{"email": email, "password": password}).mustStatus(e.t, 200)
	tok, _ := r.JSON["access_token"].(string)
	return tok
}
