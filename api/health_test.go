package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgd/orgd/mongodb"
)

// TestDatabaseUnreachable checks that a database outage is a 503 with
// Retry-After, never a 500, and that only readiness fails.
func TestDatabaseUnreachable(t *testing.T) {
	db := newEnv(t).db
	client, err := mongodb.Connect(context.Background(), "mongodb://127.0.0.1:1/?directConnection=true", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	e := newEnvOn(t, db, client, 0)

	e.call("GET", "/healthz", "", nil).mustStatus(t, 200)
	tok, _, _ := e.tokens.Issue("a", "o", "s")
	for _, tt := range []struct{ method, path, token string }{
		{"GET", "/readyz", ""},
		{"GET", "/org/get?organization_name=acme", ""},
		{"POST", "/org/create", ""},
		{"POST", "/admin/login", ""},
		{"PUT", "/org/update", tok},
	} {
		var body any
		switch tt.path {
		case "/org/create":
			body = map[string]string{"organization_name": "acme", "email": "a@acme.test", "password": "correct horse"}
		case "/admin/login":
			body = map[string]string{"email": "a@acme.test", "password": "correct horse"}
		case "/org/update":
			body = map[string]string{"email": "b@acme.test"}
		}
		r := e.call(tt.method, tt.path, tt.token, body)
		r.isProblem(t, 503)
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", tt.method, tt.path)
		}
	}
}
