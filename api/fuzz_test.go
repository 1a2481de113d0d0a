package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
)

// fuzzRoutes are the requests whose decoding FuzzRequest exercises: the
// fuzzed string is the body, or the query of a GET.
var fuzzRoutes = []struct {
	method, path string
	admin, query bool
}{
	{"POST", "/org/create", false, false},
	{"POST", "/admin/login", false, false},
	{"POST", "/admin/refresh", false, false},
	{"PUT", "/org/update", true, false},
	{"GET", "/org/get", false, true},
	{"GET", "/org/get", true, true},
	{"GET", "/org/audit", true, true},
}

// FuzzRequest sends arbitrary bodies and queries to every route that decodes
// input, against a real database: the answer is never a 500, every error is
// problem+json, and no password sent comes back.
func FuzzRequest(f *testing.F) {
	f.Add(uint8(0), `{"organization_name":"acme","email":"a@acme.test","password":"correct horse"}`)
	f.Add(uint8(1), `{"email":"a@acme.test","password":"correct horse"}`)
	f.Add(uint8(2), `{"refresh_token":"orgd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)
	f.Add(uint8(3), `{"organization_name":"renamed","email":"b@acme.test"}`)
	f.Add(uint8(4), `organization_name=seed`)
	f.Add(uint8(6), `limit=2&after=01ARZ3NDEKTSV4RRFFQ69G5FAV`)
	f.Add(uint8(1), `{"email":"a@acme.test","password":"`+strings.Repeat("x", 73)+`"}`)

	db := mongotest.New(f)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, Logger: logger})
	tokens, err := auth.NewTokens([]byte(testSecret), 15*time.Minute, time.Now)
	if err != nil {
		f.Fatal(err)
	}
	passwords, err := auth.NewPasswords(4)
	if err != nil {
		f.Fatal(err)
	}
	h := api.NewServer(api.Deps{Store: store, Tokens: tokens, Passwords: passwords, Logger: logger, Version: "fuzz",
		Throttle: auth.NewThrottle(auth.ThrottleConfig{Window: time.Second, AccountLimit: 1 << 30, AddrLimit: 1 << 30})}).Handler()
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return serve(req)
	}
	// The seed organization's admin, whose credentials follow its updates.
	email, password := "seed@seed.test", "seed password"
	if rec := post("/org/create", `{"organization_name":"seed","email":"`+email+`","password":"`+password+`"}`); rec.Code != 201 {
		f.Fatalf("create the seed organization: %d %s", rec.Code, rec.Body)
	}
	login := func() string {
		rec := post("/admin/login", `{"email":"`+email+`","password":"`+password+`"}`)
		var out struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out.AccessToken
	}
	token := login()

	f.Fuzz(func(t *testing.T, route uint8, input string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path, nil)
		if rt.query {
			req.URL = &url.URL{Path: rt.path, RawQuery: input}
		} else {
			req = httptest.NewRequest(rt.method, rt.path, strings.NewReader(input))
			req.Header.Set("Content-Type", "application/json")
		}
		if rt.admin {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := serve(req)
		body := rec.Body.String()
		if rec.Code >= 500 && (rec.Code != 503 || rec.Header().Get("Retry-After") == "") {
			t.Fatalf("%s %s with %q: %d %s", rt.method, rt.path, input, rec.Code, body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s with %q: %d as %s", rt.method, rt.path, input, rec.Code, rec.Header().Get("Content-Type"))
		}
		var sent map[string]any
		_ = json.Unmarshal([]byte(input), &sent)
		if pw, _ := sent["password"].(string); len(pw) >= 8 && strings.Contains(body, pw) {
			t.Fatalf("the answer echoes the password: %s", body)
		}
		if rt.path == "/org/update" && rec.Code == 200 { // keep a working token
			if e, ok := sent["email"].(string); ok {
				email = e
			}
			if p, ok := sent["password"].(string); ok {
				password = p
				token = login()
			}
		}
	})
}
