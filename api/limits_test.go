package api_test

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
)

// loginFrom sends a login as if from client address addr, through a trusted proxy.
func (e *env) loginFrom(addr, email, password string) response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	logs.Secret("password", password)
	return e.do(req)
}

// behindProxy trusts the loopback test client as a proxy, so that
// X-Forwarded-For sets the client address.
func behindProxy(d *api.Deps) {
	d.Security.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// TestLoginThrottle checks both limits: failures on one account from any
// address lock the account for everyone (429 with Retry-After, audited with
// the addresses that caused it), failures from one address on any accounts
// stop that address; and that a lock ends by itself after the window.
func TestLoginThrottle(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, behindProxy, func(d *api.Deps) {
		d.Throttle = auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 3, AddrLimit: 5, Now: clock})
	})
	e.create(acme).mustStatus(t, 201)
	e.create(org{"beta", "b@beta.test", "correct horse"}).mustStatus(t, 201)
	watch := e.loginTokens(acme.email, acme.password) // the admin's existing login, to read the audit log

	for _, addr := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"} {
		e.loginFrom(addr, acme.email, "wrong password").isProblem(t, 401)
	}
	// The right password, from the admin's own address: refused while locked.
	r := e.loginFrom("198.51.100.7", acme.email, acme.password)
	r.isProblem(t, 429)
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Another account, from the same address, is not locked.
	e.loginFrom("198.51.100.7", "b@beta.test", "correct horse").mustStatus(t, 200)

	// The lockout is in the organization's audit log, with who caused it.
	events := e.events(watch.access, "")
	lock := find(events, "auth.lockout")
	if lock == nil || lock["outcome"] != "locked" || lock["client_address"] != "203.0.113.1" {
		t.Fatalf("lockout event %v", lock)
	}
	if d, _ := lock["details"].(map[string]any); d["scope"] != "account" || d["failures_from"] != "203.0.113.1 203.0.113.2" {
		t.Errorf("lockout details %v", lock["details"])
	}
	// The service log names them too: a lockout of an unknown account is
	// in no organization's audit log.
	if !strings.Contains(e.logs.String(), "failures_from:203.0.113.1 203.0.113.2") {
		t.Errorf("the service log does not name the addresses behind the lockout")
	}
	if n := count(events, "auth.login", "failure"); n != 3 {
		t.Errorf("%d failed logins audited, want 3", n)
	}

	// The lock ends by itself.
	mu.Lock()
	now = now.Add(15*time.Minute + time.Second)
	mu.Unlock()
	e.loginFrom("198.51.100.7", acme.email, acme.password).mustStatus(t, 200)

	// One address trying many accounts is stopped; other addresses are not.
	for i := range 5 {
		e.loginFrom("192.0.2.66", "nobody"+strconv.Itoa(i)+"@x.test", "wrong password").isProblem(t, 401)
	}
	e.loginFrom("192.0.2.66", "b@beta.test", "correct horse").isProblem(t, 429)
	e.loginFrom("192.0.2.67", "b@beta.test", "correct horse").mustStatus(t, 200)
	// IPv6 addresses count by their /64: one subscriber holds all of it.
	for i := range 5 {
		e.loginFrom("2001:db8:1:2::"+strconv.Itoa(i+1), "nobody"+strconv.Itoa(i)+"@x.test", "wrong password").isProblem(t, 401)
	}
	e.loginFrom("2001:db8:1:2:ffff::9", "b@beta.test", "correct horse").isProblem(t, 429)
	for _, from := range []string{"192.0.2.66", "2001:db8:1:2::/64"} { // lockouts of unknown accounts: in the service log only
		if !strings.Contains(e.logs.String(), "failures_from:"+from+" scope:address") {
			t.Errorf("the service log does not name %s as the address behind its lockout:\n%s", from, e.logs.String())
		}
	}
	e.loginFrom("2001:db8:1:3::1", "b@beta.test", "correct horse").mustStatus(t, 200)
	// A client that is not a trusted proxy cannot choose its address.
	e2 := newEnv(t, func(d *api.Deps) {
		d.Throttle = auth.NewThrottle(auth.ThrottleConfig{Window: time.Minute, AccountLimit: 100, AddrLimit: 2, Now: clock})
	})
	for i := range 2 {
		e2.loginFrom("10.0.0."+strconv.Itoa(i), "x@x.test", "wrong password").isProblem(t, 401)
	}
	e2.loginFrom("10.0.0.9", "y@x.test", "wrong password").isProblem(t, 429)
}

// TestHashQueueFull checks that when as many bcrypt computations are running
// and waiting as configured, logins and creates are refused at once with 503
// and Retry-After, while requests that need no hash keep being served.
func TestHashQueueFull(t *testing.T) {
	gate := auth.NewGate(1, 1, nil)
	e := newEnv(t, func(d *api.Deps) {
		p, err := auth.NewLimitedPasswords(4, gate)
		if err != nil {
			t.Fatal(err)
		}
		d.Passwords = recordHashes{p}
	})
	e.create(acme).mustStatus(t, 201)
	tok := e.login(acme.email, acme.password)
	for range auth.DefaultAccountLimit - 1 { // one failure short of a lockout
		e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": "wrong password"}).isProblem(t, 401)
	}

	ctx := context.Background()
	running, err := gate.Enter(ctx) // a long hash holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	queued := make(chan func())
	go func() {
		release, err := gate.Enter(ctx) // another waits in the queue
		if err != nil {
			t.Error(err)
		}
		queued <- release
	}()
	for gate.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	for _, r := range []response{
		e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}),
		e.call("POST", "/org/create", "", map[string]string{"organization_name": "beta", "email": "b@beta.test", "password": "correct horse"}),
		e.call("PUT", "/org/update", tok, map[string]string{"password": "another password"}),
	} {
		r.isProblem(t, 503)
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).mustStatus(t, 200)
	e.call("GET", "/org/get?organization_name=acme", tok, nil).mustStatus(t, 200)
	e.call("GET", "/healthz", "", nil).mustStatus(t, 200)

	running()
	(<-queued)()
	// The refused login did not count as a failure: no lockout.
	e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).mustStatus(t, 200)
}

// TestConcurrentLoginsAreNotLockedOut checks that logins under way count
// against the address limit without locking anyone out: with as many in
// flight from one address as its limit, one more gets 429 with a one-second
// Retry-After, no lockout is audited, and it succeeds once they have ended.
func TestConcurrentLoginsAreNotLockedOut(t *testing.T) {
	gate := auth.NewGate(1, 4, nil)
	e := newEnv(t, behindProxy, func(d *api.Deps) {
		d.Throttle = auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 10, AddrLimit: 2})
		p, err := auth.NewLimitedPasswords(4, gate)
		if err != nil {
			t.Fatal(err)
		}
		d.Passwords = recordHashes{p}
	})
	beta := org{"beta", "b@beta.test", "correct horse"}
	e.create(acme).mustStatus(t, 201)
	e.create(beta).mustStatus(t, 201)
	watch := e.loginTokens(acme.email, acme.password)

	running, err := gate.Enter(context.Background()) // a long hash holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	const office = "198.51.100.7"
	var wg sync.WaitGroup
	results := make([]response, 2)
	for i, o := range []org{acme, beta} {
		wg.Go(func() { results[i] = e.loginFrom(office, o.email, o.password) })
	}
	for gate.Waiting() != 2 {
		time.Sleep(time.Millisecond)
	}
	r := e.loginFrom(office, acme.email, acme.password)
	r.isProblem(t, 429)
	if ra := r.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	if d, _ := r.JSON["detail"].(string); !strings.Contains(d, "under way") {
		t.Errorf("detail %q does not say that logins are under way", d)
	}
	running()
	wg.Wait()
	for i, r := range results {
		if r.Status != 200 {
			t.Errorf("login %d under way: %d %s", i, r.Status, r.Raw)
		}
	}
	e.loginFrom(office, acme.email, acme.password).mustStatus(t, 200)
	if lock := find(e.events(watch.access, ""), "auth.lockout"); lock != nil {
		t.Errorf("a lockout was audited: %v", lock)
	}
}

// TestPasswordBounds checks that a password over 72 bytes or with a NUL byte
// is refused with 422 wherever one is accepted, never truncated.
func TestPasswordBounds(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("é", 36) + "x" // 73 bytes, 37 characters
	e.create(org{"acme", "a@acme.test", long[:72]}).mustStatus(t, 201)
	tok := e.login("a@acme.test", long[:72])
	for _, pw := range []string{long, "correct\x00horse", "ab\x00"} {
		for name, r := range map[string]response{
			"create": e.create(org{"beta", "b@beta.test", pw}),
			"login":  e.call("POST", "/admin/login", "", map[string]string{"email": "a@acme.test", "password": pw}),
			"update": e.call("PUT", "/org/update", tok, map[string]string{"password": pw}),
		} {
			r.isProblem(t, 422)
			if !hasErrorAt(r, "body.password") {
				t.Errorf("%s: errors do not name the password: %s", name, r.Raw)
			}
		}
	}
	// The stored password is all 72 bytes: a prefix of it is wrong.
	e.call("POST", "/admin/login", "", map[string]string{"email": "a@acme.test", "password": long[:70]}).isProblem(t, 401)
}

// servedCounter is a HashGate that counts the requests it hears of.
type servedCounter struct{ n atomic.Int64 }

func (c *servedCounter) Served(time.Time) { c.n.Add(1) }

// TestHashGateHearsOtherRequests checks that the gate hears of every request
// that asked for no password hash, and of none that did: a login flood must
// not keep hashes off the CPU it would otherwise have.
func TestHashGateHearsOtherRequests(t *testing.T) {
	gate := &servedCounter{}
	e := newEnv(t, func(d *api.Deps) { d.HashGate = gate })
	for _, tt := range []struct {
		name   string
		call   func() response
		status int
		heard  int64
	}{
		{"create (hashes)", func() response { return e.create(acme) }, 201, 0},
		{"login (hashes)", func() response {
			return e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password})
		}, 200, 0},
		{"lookup", func() response { return e.call("GET", "/org/get?organization_name=acme", "", nil) }, 200, 1},
		{"health", func() response { return e.call("GET", "/healthz", "", nil) }, 200, 1},
	} {
		before := gate.n.Load()
		tt.call().mustStatus(t, tt.status)
		if got := gate.n.Load() - before; got != tt.heard {
			t.Errorf("%s: the gate heard of %d requests, want %d", tt.name, got, tt.heard)
		}
	}
}

// TestForwardedForWithPorts checks that an X-Forwarded-For entry written
// with a port, as some proxies do, counts as its address: not as the proxy,
// which would put every client behind it under one limit.
func TestForwardedForWithPorts(t *testing.T) {
	e := newEnv(t, behindProxy, func(d *api.Deps) {
		d.Throttle = auth.NewThrottle(auth.ThrottleConfig{Window: time.Minute, AccountLimit: 100, AddrLimit: 3})
	})
	e.create(acme).mustStatus(t, 201)
	for i := range 3 {
		e.loginFrom("203.0.113.9:"+strconv.Itoa(4000+i), "nobody@x.test", "wrong password").isProblem(t, 401)
	}
	e.loginFrom("203.0.113.9:5000", acme.email, acme.password).isProblem(t, 429) // the same client
	for _, addr := range []string{"198.51.100.7:5555", "[2001:db8::1]:443", "[2001:db8::2]", "198.51.100.8"} {
		e.loginFrom(addr, acme.email, acme.password).mustStatus(t, 200)
	}
	events := e.events(e.loginTokens(acme.email, acme.password).access, "")
	seen := map[any]bool{}
	for _, ev := range events {
		if ev["type"] == "auth.login" && ev["outcome"] == "success" {
			seen[ev["client_address"]] = true
		}
	}
	for _, want := range []string{"198.51.100.7", "2001:db8::1", "2001:db8::2"} {
		if !seen[want] {
			t.Errorf("no login audited from %s: %v", want, seen)
		}
	}
}

// TestLockoutOfBothAudited checks that failures which lock an account and,
// with the same failure, their address, are audited as two lockouts: the
// address lockout refuses every other account from there.
func TestLockoutOfBothAudited(t *testing.T) {
	e := newEnv(t, behindProxy, func(d *api.Deps) {
		d.Throttle = auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 3, AddrLimit: 3})
	})
	e.create(acme).mustStatus(t, 201)
	e.create(org{"beta", "b@beta.test", "correct horse"}).mustStatus(t, 201)
	watch := e.loginTokens(acme.email, acme.password)
	for range 3 {
		e.loginFrom("203.0.113.9", acme.email, "wrong password").isProblem(t, 401)
	}
	e.loginFrom("203.0.113.9", "b@beta.test", "correct horse").isProblem(t, 429) // the address is locked too
	scopes := map[string]string{}
	for _, ev := range e.events(watch.access, "") {
		if ev["type"] == "auth.lockout" {
			d, _ := ev["details"].(map[string]any)
			s, _ := d["scope"].(string)
			f, _ := d["failures_from"].(string)
			scopes[s] = f
		}
	}
	if scopes["account"] != "203.0.113.9" || scopes["address"] != "203.0.113.9" {
		t.Errorf("lockouts audited %v, want one of the account and one of the address, both from 203.0.113.9", scopes)
	}
	if !strings.Contains(e.logs.String(), "failures_from:203.0.113.9 scope:address") {
		t.Errorf("the service log does not show the address lockout")
	}
}
