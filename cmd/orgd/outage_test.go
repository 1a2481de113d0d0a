package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// outcome is one request's answer, or its transport error.
type outcome struct {
	status     int
	retryAfter string
	problem    map[string]any
	err        error
	took       time.Duration
}

// hangBound is how long any request may take while the database is away:
// ORGD_DB_TIMEOUT is 1 s, and a request makes a few attempts at most. A
// request still unanswered then counts as hanging.
const hangBound = 10 * time.Second

func do(client *http.Client, method, url, body string) outcome {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return outcome{err: err, took: time.Since(start)}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	o := outcome{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"), took: time.Since(start)}
	if res.Header.Get("Content-Type") == "application/problem+json" {
		_ = json.Unmarshal(b, &o.problem)
	}
	return o
}

// TestDatabaseOutage stops the database under load and starts it again on
// the same data: requests fail fast with 503 and Retry-After while it is
// away, readiness flips and liveness does not, orgd recovers by itself, and
// every create acknowledged before the outage is still there.
func TestDatabaseOutage(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	db, err := embeddb.Start(embeddb.Config{Dir: dir, Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	dbUp := true
	defer func() {
		if dbUp {
			_ = db.Stop(context.Background())
		}
	}()
	uri := db.URI()
	env := map[string]string{
		"ORGD_ADDR": "127.0.0.1:0", "MONGODB_URI": uri, "ORGD_JWT_SECRET": strings.Repeat("o", 32), "ORGD_BCRYPT_COST": "4",
		"ORGD_DB_TIMEOUT": "1s", "ORGD_OP_LEASE": "1s", "ORGD_RECONCILE_INTERVAL": "200ms", "ORGD_LOG_LEVEL": "warn",
	}
	var logs mongotest.Logs
	banner, stop := startBanner(t, env, &logs)
	defer func() {
		if t.Failed() {
			t.Logf("orgd's log:\n%s", logs.String())
		}
	}()
	api := banner["API"]
	client := &http.Client{Timeout: hangBound}

	// Load: workers create organizations until told to stop, remembering
	// every create that was acknowledged and every answer.
	var (
		mu       sync.Mutex
		acked    []string
		statuses = map[int]int{}
		failures []string
		slowest  time.Duration // of the 503s
	)
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i)
				o := do(client, "POST", api+"/org/create", fmt.Sprintf(`{"organization_name":%q,"email":"%s@x.test","password":"correct horse"}`, name, name))
				mu.Lock()
				statuses[o.status]++
				switch {
				case o.err != nil:
					failures = append(failures, fmt.Sprintf("create %s: %v after %v", name, o.err, o.took))
				case o.status == 201:
					acked = append(acked, name)
				case o.status == 503 && o.retryAfter != "" && o.problem["request_id"] != nil:
					slowest = max(slowest, o.took)
				default:
					failures = append(failures, fmt.Sprintf("create %s: %d (Retry-After %q) %v", name, o.status, o.retryAfter, o.problem))
				}
				mu.Unlock()
				if o.status != 201 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, limit)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("10 creates acknowledged before the outage", 60*time.Second, func() bool { return ackedNow() >= 10 })

	// The outage.
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = db.Stop(stopCtx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	dbUp = false
	before := ackedNow()
	waitFor("/readyz answers 503", 2*hangBound, func() bool { return do(client, "GET", api+"/readyz", "").status == 503 })
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/readyz", ""},
		{"GET", "/org/get?organization_name=w0-0", ""},
		{"POST", "/admin/login", `{"email":"w0-0@x.test","password":"correct horse"}`},
		{"POST", "/org/create", `{"organization_name":"during","email":"during@x.test","password":"correct horse"}`},
	} {
		o := do(client, r.method, api+r.path, r.body)
		if o.err != nil || o.status != 503 || o.retryAfter == "" || o.problem["status"] != float64(503) {
			t.Errorf("during the outage %s %s: %d Retry-After %q %v %v", r.method, r.path, o.status, o.retryAfter, o.problem, o.err)
		}
	}
	if o := do(client, "GET", api+"/healthz", ""); o.status != 200 {
		t.Errorf("/healthz during the outage: %d %v", o.status, o.err)
	}
	time.Sleep(2 * time.Second) // the load keeps meeting the outage
	mu.Lock()
	during503 := statuses[503]
	mu.Unlock()
	if during503 == 0 {
		t.Error("no create was answered 503 during the outage")
	}

	// The database comes back on the same address and data; orgd is not restarted.
	db, err = embeddb.Start(embeddb.Config{Dir: dir, Addr: addr})
	if err != nil {
		t.Fatalf("restart the database: %v", err)
	}
	dbUp = true
	back := time.Now()
	waitFor("/readyz answers 200 again", 30*time.Second, func() bool { return do(client, "GET", api+"/readyz", "").status == 200 })
	waitFor("creates succeed again", 30*time.Second, func() bool { return ackedNow() > before+5 })
	t.Logf("recovered %v after the database came back", time.Since(back).Round(10*time.Millisecond))
	close(stopLoad)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("answers: %v; %d creates acknowledged, %d before the outage; slowest 503 took %v",
		statuses, len(acked), before, slowest.Round(time.Millisecond))
	for _, name := range acked {
		if o := do(client, "GET", api+"/org/get?organization_name="+name, ""); o.status != 200 {
			t.Errorf("acknowledged organization %s: %d", name, o.status)
		}
	}

	// Creates that the outage interrupted are undone by the reconciler:
	// nothing stays half done.
	check, err := mongodb.Connect(context.Background(), uri, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Disconnect(context.Background())
	store := mongodb.NewStore(check, mongodb.Config{MasterDB: "orgd_master", TenantDB: "orgd_tenants", Lease: time.Second, Grace: time.Second})
	var probs []mongodb.Problem
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := check.Database("orgd_master").Collection("operations").CountDocuments(context.Background(), bson.M{})
		if err == nil {
			probs, err = store.Check(context.Background())
		}
		if err == nil && n == 0 && len(probs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("a minute after the outage: %d operations journaled, check error %v", n, err)
			for _, p := range probs {
				t.Errorf("invariant broken: %s", p.Text)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	mfs := scrape(t, banner["Metrics"])
	var dbErrors float64
	for _, m := range mfs["orgd_db_operation_errors_total"].GetMetric() {
		dbErrors += m.GetCounter().GetValue()
	}
	if n, _ := sample(mfs, "orgd_http_requests_total", map[string]string{"method": "POST", "route": "/org/create", "code": "5xx"}); n == 0 || dbErrors == 0 {
		t.Errorf("the outage is not in the metrics: %v create 5xx, %v database errors", n, dbErrors)
	}
	if err := stop(); err != nil {
		t.Errorf("orgd stopped with %v", err)
	}
}
