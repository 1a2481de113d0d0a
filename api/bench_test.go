package api_test

import (
	"log/slog"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
)

// BenchmarkRequest measures orgd's whole handler chain without the network:
// an authenticated GET /org/get, answered from the cache, and a record read,
// which also reaches the database.
func BenchmarkRequest(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	e := newEnv(b, func(d *api.Deps) { d.Logger = slog.New(slog.DiscardHandler) })
	o := org{name: "bench", email: "admin@bench.test", password: "bench password 1"}
	e.create(o).mustStatus(b, 201)
	tok := e.login(o.email, o.password)
	rec := e.call("POST", "/org/records", tok, map[string]any{"name": "item", "qty": 3, "tags": []string{"a", "b"}}).mustStatus(b, 201)
	// The create and the login lent bcrypt extra Ps, returned a second after
	// the last hash: measure the handler as it runs with none lent.
	for end := time.Now().Add(10 * time.Second); runtime.GOMAXPROCS(0) != procs && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	h := e.srv.Config.Handler
	for _, bc := range []struct{ name, path string }{
		{"GET /org/get (token)", "/org/get"},
		{"GET /org/records/{id}", "/org/records/" + rec.JSON["id"].(string)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", bc.path, w.Code, w.Body)
				}
			}
		})
	}
}
