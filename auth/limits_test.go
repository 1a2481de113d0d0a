package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

// fail makes one failed login and returns the throttle's verdict on it.
func fail(t *testing.T, th *auth.Throttle, account, addr string) auth.Verdict {
	t.Helper()
	if v := th.Attempt(account, addr); !v.Allowed {
		t.Fatalf("attempt for %s from %s refused: %+v", account, addr, v)
	}
	return th.Failed(account, addr)
}

// TestThrottle checks the per-account and per-address limits, that a lock
// ends by itself after the window, and that successes and cancelled
// attempts do not count.
func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	th := auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 3, AddrLimit: 5, Now: func() time.Time { return now }})

	// Three failures on one account from two addresses lock it for everyone.
	for i, addr := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"} {
		v := fail(t, th, "victim@x.test", addr)
		if locks := i == 2; v.Locks != locks {
			t.Errorf("failure %d: Locks = %v", i, v.Locks)
		}
		if i == 2 && (v.Scope != auth.ScopeAccount || strings.Join(v.From, " ") != "10.0.0.1 10.0.0.2") {
			t.Errorf("lock verdict %+v", v)
		}
		now = now.Add(time.Minute)
	}
	v := th.Attempt("victim@x.test", "10.9.9.9")
	if v.Allowed || v.Busy || v.Scope != auth.ScopeAccount || v.RetryAfter != 12*time.Minute {
		t.Errorf("locked account: %+v", v)
	}
	if v := th.Attempt("other@x.test", "10.9.9.9"); !v.Allowed {
		t.Error("another account is locked too")
	}
	th.Cancel("other@x.test", "10.9.9.9")

	// The lock ends by itself once the oldest failure leaves the window.
	now = now.Add(12 * time.Minute)
	if v := th.Attempt("victim@x.test", "10.9.9.9"); !v.Allowed {
		t.Errorf("still locked after the window: %+v", v)
	}
	th.Succeeded("victim@x.test", "10.9.9.9") // and a success forgets the failures
	for range 2 {
		fail(t, th, "victim@x.test", "10.0.0.3")
	}

	// One address guessing many accounts is stopped by the address limit.
	now = now.Add(time.Hour)
	for i := range 5 {
		if v := fail(t, th, "user"+string(rune('a'+i))+"@x.test", "10.6.6.6"); v.Locks != (i == 4) {
			t.Fatalf("address failure %d: %+v", i, v)
		}
	}
	if v := th.Attempt("fresh@x.test", "10.6.6.6"); v.Allowed || v.Busy || v.Scope != auth.ScopeAddress {
		t.Errorf("address over its limit: %+v", v)
	}
	if v := th.Attempt("fresh@x.test", "10.7.7.7"); !v.Allowed {
		t.Error("another address is limited too")
	}
}

// TestThrottleInFlight checks that attempts in flight count against the
// limits, so that concurrent guesses cannot slip past them, without locking
// anyone out: the attempt they hold back is told to retry in a moment, and
// may once they have ended, unless they failed.
func TestThrottleInFlight(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope string
		next  func(i int) (account, addr string) // the i-th concurrent attempt
		other func() (account, addr string)      // an attempt the limit does not touch
	}{
		{"one account from several addresses", auth.ScopeAccount,
			func(i int) (string, string) { return "victim@x.test", fmt.Sprintf("10.0.0.%d", i) },
			func() (string, string) { return "other@x.test", "10.0.0.1" }},
		{"several accounts from one address", auth.ScopeAddress,
			func(i int) (string, string) { return fmt.Sprintf("user%d@x.test", i), "10.6.6.6" },
			func() (string, string) { return "other@x.test", "10.7.7.7" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			th := auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 3, AddrLimit: 3, Now: func() time.Time { return now }})
			for i := range 3 {
				if v := th.Attempt(tc.next(i)); !v.Allowed {
					t.Fatalf("attempt %d refused: %+v", i, v)
				}
			}
			if v := th.Attempt(tc.next(3)); v.Allowed || !v.Busy || v.Scope != tc.scope || v.RetryAfter != time.Second {
				t.Errorf("fourth attempt while three are in flight: %+v, want busy for a second", v)
			}
			if v := th.Attempt(tc.other()); !v.Allowed {
				t.Errorf("an attempt outside the limit: %+v", v)
			}
			th.Cancel(tc.other())

			// Three successes free the way; the failures of three more lock.
			for i := range 3 {
				th.Succeeded(tc.next(i))
			}
			for i := range 3 {
				if v := th.Attempt(tc.next(i)); !v.Allowed {
					t.Fatalf("attempt %d after the successes refused: %+v", i, v)
				}
			}
			for i := range 3 {
				if v := th.Failed(tc.next(i)); v.Locks != (i == 2) || v.Locks && v.Scope != tc.scope {
					t.Errorf("failure %d: %+v", i, v)
				}
			}
			if v := th.Attempt(tc.next(3)); v.Allowed || v.Busy || v.RetryAfter != 15*time.Minute {
				t.Errorf("after three failures: %+v, want a lockout", v)
			}
		})
	}
}

// TestThrottleMemoryBound checks that the throttle forgets the oldest keys
// rather than grow without bound.
func TestThrottleMemoryBound(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	th := auth.NewThrottle(auth.ThrottleConfig{Window: time.Hour, AccountLimit: 1, AddrLimit: 1000, MaxKeys: 10, Now: func() time.Time { return now }})
	fail(t, th, "first@x.test", "10.0.0.1")
	for i := range 20 {
		now = now.Add(time.Second)
		fail(t, th, strings.Repeat("a", i+1)+"@x.test", "10.0.0.2")
	}
	if v := th.Attempt("first@x.test", "10.0.0.3"); !v.Allowed {
		t.Error("the oldest account was not evicted")
	}
}

// TestThrottleRefusedAddNoKeys checks that attempts refused for their
// address add no account keys: otherwise a client over its limit could try
// new accounts to fill the map, costing memory and pushing out the failures
// counted against other accounts.
func TestThrottleRefusedAddNoKeys(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	th := auth.NewThrottle(auth.ThrottleConfig{Window: time.Hour, AccountLimit: 5, AddrLimit: 1, MaxKeys: 10, Now: func() time.Time { return now }})
	for i := range 4 { // one below the account's limit, from four addresses
		fail(t, th, "victim@x.test", fmt.Sprintf("10.0.1.%d", i))
	}
	fail(t, th, "first@x.test", "10.6.6.6") // this address is now at its limit
	for i := range 50 {
		now = now.Add(time.Second)
		if v := th.Attempt(fmt.Sprintf("guess%d@x.test", i), "10.6.6.6"); v.Allowed {
			t.Fatalf("attempt %d from an address over its limit was allowed", i)
		}
	}
	if v := fail(t, th, "victim@x.test", "10.0.2.1"); !v.Locks {
		t.Errorf("the victim's fifth failure: %+v, want the lock (its first four were forgotten)", v)
	}
}

// TestGate checks that at most the configured number of hashes run, at most
// the configured number wait, and the rest are refused at once.
func TestGate(t *testing.T) {
	g := auth.NewGate(1, 1, nil)
	ctx := context.Background()
	release, err := g.Enter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan func())
	go func() {
		r, err := g.Enter(ctx) // waits for the running one
		if err != nil {
			t.Error(err)
		}
		entered <- r
	}()
	for g.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, err := g.Enter(ctx); !errors.Is(err, auth.ErrBusy) {
		t.Errorf("third Enter: %v, want ErrBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	release()
	second := <-entered
	if _, err := g.Enter(cctx); err == nil {
		t.Error("Enter with a cancelled context succeeded while the slot was taken")
	}
	second()

	p, err := auth.NewLimitedPasswords(4, auth.NewGate(1, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Hash(ctx, "correct horse"); err != nil {
		t.Errorf("hash through a free gate: %v", err)
	}
}

// TestGateLeavesACPU checks that while requests needing no hash are being
// served, one hash fewer runs, and that the limit rises again once they stop.
func TestGateLeavesACPU(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	g := auth.NewGate(2, 4, clock)
	ctx := context.Background()
	enter := func() func() {
		t.Helper()
		r, err := g.Enter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	a, b := enter(), enter() // nothing else served: both CPUs
	if g.Waiting() != 0 {
		t.Fatalf("%d waiting with two slots free", g.Waiting())
	}
	a()
	b()

	g.Served(clock())
	a = enter()
	queued := make(chan func())
	go func() {
		r, err := g.Enter(ctx)
		if err != nil {
			t.Error(err)
		}
		queued <- r
	}()
	for g.Waiting() != 1 {
		time.Sleep(time.Millisecond)
	}
	cctx, cancel := context.WithCancel(ctx)
	gone := make(chan error)
	go func() { _, err := g.Enter(cctx); gone <- err }()
	for g.Waiting() != 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled wait: %v, want context.Canceled", err)
	}
	if g.Waiting() != 1 {
		t.Errorf("%d waiting after a wait was cancelled, want 1", g.Waiting())
	}

	advance(auth.ShareWindow) // the other requests stopped
	a()
	b = <-queued
	c := enter() // two run again
	b()
	c()
}

// TestRefreshTokens checks their shape and that only well-formed ones hash.
func TestRefreshTokens(t *testing.T) {
	tok, hash, err := auth.NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := auth.NewRefreshToken()
	if !strings.HasPrefix(tok, auth.RefreshPrefix) || tok == again || strings.Contains(hash, tok[len(auth.RefreshPrefix):]) {
		t.Errorf("token %q, hash %q", tok, hash)
	}
	if h, ok := auth.RefreshTokenHash(tok); !ok || h != hash {
		t.Errorf("RefreshTokenHash(issued) = %q, %v", h, ok)
	}
	for _, bad := range []string{"", "orgd_rt_", tok + "A", tok[:len(tok)-1], strings.Replace(tok, "orgd_rt_", "orgd_xx_", 1),
		tok[:len(tok)-1] + "=", auth.RefreshPrefix + strings.Repeat("!", len(tok)-len(auth.RefreshPrefix))} {
		if _, ok := auth.RefreshTokenHash(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestThrottleBothLimitsAtOnce checks that a failure that reaches the
// account limit and the address limit at once reports both lockouts: the
// address lockout refuses every other account from there and must be audited
// like any other.
func TestThrottleBothLimitsAtOnce(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	th := auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 3, AddrLimit: 3, Now: func() time.Time { return now }})
	for i := range 3 {
		v := fail(t, th, "victim@x.test", "10.0.3.1")
		if v.Locks != (i == 2) || v.AddressLocks != (i == 2) {
			t.Errorf("failure %d: %+v, want the third to lock the account and the address", i, v)
		}
	}
	if v := th.Attempt("other@x.test", "10.0.3.1"); v.Allowed || v.Scope != auth.ScopeAddress {
		t.Errorf("another account from the locked address: %+v, want refused", v)
	}
	// Reaching only the account limit is not an address lockout.
	th = auth.NewThrottle(auth.ThrottleConfig{Window: 15 * time.Minute, AccountLimit: 3, AddrLimit: 5, Now: func() time.Time { return now }})
	for i := range 3 {
		if v := fail(t, th, "victim@x.test", "10.0.3.1"); v.AddressLocks {
			t.Errorf("failure %d: %+v, the address limit is not reached", i, v)
		}
	}
}
