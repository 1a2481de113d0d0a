package api_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/api"
)

// tokens is what a login or a refresh answers.
type tokens struct{ access, refresh string }

func (e *env) loginTokens(email, password string) tokens {
	e.t.Helper()
	r := e.call("POST", "/admin/login", "", map[string]string{"email": email, "password": password}).mustStatus(e.t, 200)
	return tokensOf(e.t, r)
}

func (e *env) refresh(refresh string) response {
	e.t.Helper()
	return e.call("POST", "/admin/refresh", "", map[string]string{"refresh_token": refresh})
}

func tokensOf(t testing.TB, r response) tokens {
	t.Helper()
	access, _ := r.JSON["access_token"].(string)
	refresh, _ := r.JSON["refresh_token"].(string)
	if access == "" || !strings.HasPrefix(refresh, "orgd_rt_") || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token answer: %v %s", r.Header, r.Raw)
	}
	return tokens{access, refresh}
}

// works reports whether an access token is accepted, by an admin-only call.
func (e *env) works(access string) bool {
	e.t.Helper()
	r := e.call("GET", "/org/audit?limit=1", access, nil)
	if r.Status != 200 && r.Status != 401 {
		e.t.Fatalf("audit with a token: %d %s", r.Status, r.Raw)
	}
	return r.Status == 200
}

// TestRefreshRotation checks that a refresh token is exchanged once for a
// new pair, and that presenting a used one revokes the whole login: every
// refresh and access token rotated from it, at once.
func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	first := e.loginTokens(acme.email, acme.password)
	other := e.loginTokens(acme.email, acme.password) // a second, unrelated login

	// A new login's refresh token lives the whole configured time, to the second.
	if l := e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).mustStatus(t, 200); l.JSON["refresh_expires_in"] != float64(30*24*3600) {
		t.Errorf("a new login's refresh_expires_in %v, want %d", l.JSON["refresh_expires_in"], 30*24*3600)
	}
	r := e.refresh(first.refresh).mustStatus(t, 200)
	second := tokensOf(t, r)
	if second.refresh == first.refresh || second.access == first.access {
		t.Fatal("refresh returned the same tokens")
	}
	if r.JSON["expires_in"] != float64(900) || r.JSON["refresh_expires_in"].(float64) < 29*24*3600 {
		t.Errorf("lifetimes: %s", r.Raw)
	}
	third := tokensOf(t, e.refresh(second.refresh).mustStatus(t, 200))
	for _, tok := range []string{first.access, second.access, third.access} {
		if !e.works(tok) {
			t.Fatal("an access token of a live login was refused")
		}
	}

	// The first refresh token again: someone kept a copy. The login ends.
	e.refresh(first.refresh).isProblem(t, 401)
	e.refresh(third.refresh).isProblem(t, 401)
	for i, tok := range []string{first.access, second.access, third.access} {
		if e.works(tok) {
			t.Errorf("access token %d of the revoked login still works", i)
		}
	}
	if !e.works(other.access) {
		t.Error("an unrelated login was revoked too")
	}
	tokensOf(t, e.refresh(other.refresh).mustStatus(t, 200))

	for _, bad := range []string{"", "garbage", "orgd_rt_" + strings.Repeat("A", 43), first.refresh + "A"} {
		r := e.refresh(bad)
		if bad == "" {
			r.mustStatus(t, 401) // an empty string is a refresh token that is not valid
		}
		r.isProblem(t, 401)
	}
	e.refresh(first.access).isProblem(t, 422) // longer than any refresh token
	e.call("POST", "/admin/refresh", "", `{"refresh_token":5}`).isProblem(t, 422)
	e.call("POST", "/admin/refresh", "", `{}`).isProblem(t, 422)
}

// TestConcurrentRefreshes checks that of several exchanges of one refresh
// token at the same moment at most one gets tokens, that the others count as
// reuse, and that the reuse revokes the login, the winner's new tokens included.
func TestConcurrentRefreshes(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	tok := e.loginTokens(acme.email, acme.password)
	answers := make([]response, 6)
	fns := make([]func() int, len(answers))
	for i := range fns {
		fns[i] = func() int { answers[i] = e.refresh(tok.refresh); return answers[i].Status }
	}
	var won []response
	for _, s := range parallel(fns...) {
		if s != 200 && s != 401 {
			t.Errorf("status %d", s)
		}
	}
	for _, r := range answers {
		if r.Status == 200 {
			won = append(won, r)
		}
	}
	if len(won) > 1 {
		t.Errorf("%d of 6 concurrent refreshes got tokens, want at most 1", len(won))
	}
	if e.works(tok.access) {
		t.Error("the login survived the reuse")
	}
	for _, r := range won {
		if e.works(tokensOf(t, r).access) {
			t.Error("the tokens of the winning refresh survived the reuse")
		}
		e.refresh(tokensOf(t, r).refresh).isProblem(t, 401)
	}
}

// TestLogout checks that logging out revokes the login's access and refresh
// tokens for the very next request, and nothing else.
func TestLogout(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	a := e.loginTokens(acme.email, acme.password)
	b := e.loginTokens(acme.email, acme.password)
	r := e.call("POST", "/admin/logout", a.access, nil).mustStatus(t, 204)
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("logout Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	if e.works(a.access) {
		t.Error("the access token works after logout")
	}
	e.call("GET", "/org/get?organization_name=acme", a.access, nil).isProblem(t, 401)
	e.refresh(a.refresh).isProblem(t, 401)
	e.call("POST", "/admin/logout", a.access, nil).isProblem(t, 401)
	if !e.works(b.access) {
		t.Error("logout revoked another login")
	}
	e.call("POST", "/admin/logout", "", nil).isProblem(t, 401)

	// A token spent before the logout is refused as quietly as the live one:
	// with its login over, it is no reuse to act on.
	c := e.loginTokens(acme.email, acme.password)
	c2 := tokensOf(t, e.refresh(c.refresh).mustStatus(t, 200))
	e.call("POST", "/admin/logout", c2.access, nil).mustStatus(t, 204)
	e.refresh(c.refresh).isProblem(t, 401)
	if strings.Contains(e.logs.String(), "refresh token reused") {
		t.Error("a spent token of a logged-out login was taken for a reuse")
	}
}

// TestPasswordChangeRevokes checks that a new password ends every earlier
// login of the admin at once, the one that changed it included, and that
// only the new password logs in afterwards.
func TestPasswordChangeRevokes(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	e.create(org{"beta", "b@beta.test", "correct horse"}).mustStatus(t, 201)
	a := e.loginTokens(acme.email, acme.password)
	b := e.loginTokens(acme.email, acme.password)
	beta := e.loginTokens("b@beta.test", "correct horse")
	rotated := tokensOf(t, e.refresh(b.refresh).mustStatus(t, 200))

	e.call("PUT", "/org/update", a.access, map[string]string{"password": "a new password"}).mustStatus(t, 200)
	for name, tok := range map[string]tokens{"changing login": a, "other login": rotated} {
		if e.works(tok.access) {
			t.Errorf("%s: access token works after the password change", name)
		}
		e.refresh(tok.refresh).isProblem(t, 401)
	}
	if !e.works(beta.access) {
		t.Error("another organization's login was revoked")
	}
	e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).isProblem(t, 401)
	fresh := e.loginTokens(acme.email, "a new password")
	if !e.works(fresh.access) {
		t.Error("a login after the change does not work")
	}
	// Changing only the name or email keeps the logins.
	e.call("PUT", "/org/update", fresh.access, map[string]string{"organization_name": "Acme2", "email": "new@acme.test"}).mustStatus(t, 200)
	if !e.works(fresh.access) {
		t.Error("a rename revoked the login")
	}
}

// TestOldPasswordOnAStaleInstance logs in with the old password on an
// instance whose cache has not seen the password change yet: no login made
// with the old password may survive the change.
func TestOldPasswordOnAStaleInstance(t *testing.T) {
	a := newEnv(t)
	b := newEnvOn(t, a.db, a.db.Client, time.Minute) // syncs its cache only when told
	a.create(acme).mustStatus(t, 201)
	b.loginTokens(acme.email, acme.password) // b has the admin cached
	owner := a.loginTokens(acme.email, acme.password)
	a.call("PUT", "/org/update", owner.access, map[string]string{"password": "a new password"}).mustStatus(t, 200)
	b.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).isProblem(t, 401)
	if err := b.store.SyncCache(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).isProblem(t, 401)
	if !b.works(b.loginTokens(acme.email, "a new password").access) {
		t.Error("the new password does not log in on the other instance")
	}
}

// TestAccessTokenEndsWithItsLogin checks that an access token never outlives
// its login: past the login's end, its session is pruned and a revocation
// (a password change) could no longer find it.
func TestAccessTokenEndsWithItsLogin(t *testing.T) {
	e := newEnv(t, func(d *api.Deps) { d.Security.RefreshTTL = 5 * time.Minute }) // under the 15-minute token lifetime
	e.create(acme).mustStatus(t, 201)
	r := e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).mustStatus(t, 200)
	if in := r.JSON["expires_in"].(float64); in > 300 {
		t.Errorf("expires_in %v for a login that ends in 300 s", in)
	}
	claims, err := e.tokens.Verify(tokensOf(t, r).access)
	if err != nil {
		t.Fatal(err)
	}
	if end := time.Now().Add(5 * time.Minute); claims.ExpiresAt.After(end) {
		t.Errorf("the access token expires at %v, after its login's end %v", claims.ExpiresAt, end)
	}
}

// TestDeleteRevokes checks that deleting the organization ends its tokens.
func TestDeleteRevokes(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	a := e.loginTokens(acme.email, acme.password)
	b := e.loginTokens(acme.email, acme.password)
	e.call("DELETE", "/org/delete?organization_name=acme", a.access, nil).mustStatus(t, 204)
	for _, tok := range []tokens{a, b} {
		e.call("GET", "/org/get?organization_name=acme", tok.access, nil).isProblem(t, 401)
		e.refresh(tok.refresh).isProblem(t, 401)
	}
	// A new organization with the same name and email is a stranger to them.
	e.create(acme).mustStatus(t, 201)
	e.call("GET", "/org/audit", b.access, nil).isProblem(t, 401)
	e.refresh(b.refresh).isProblem(t, 401)
}

// TestLoginLifetime checks that refresh tokens die with their login, which
// rotation does not extend.
func TestLoginLifetime(t *testing.T) {
	now := time.Now()
	e := newEnv(t, func(d *api.Deps) {
		d.Now = func() time.Time { return now }
		d.Security.RefreshTTL = time.Hour
	})
	e.create(acme).mustStatus(t, 201)
	tok := e.loginTokens(acme.email, acme.password)
	now = now.Add(50 * time.Minute)
	r := e.refresh(tok.refresh).mustStatus(t, 200)
	if left := r.JSON["refresh_expires_in"].(float64); left < 599 || left > 600 {
		t.Errorf("refresh_expires_in %v after 50 of 60 minutes, want 600", left)
	}
	now = now.Add(11 * time.Minute)
	e.refresh(tokensOf(t, r).refresh).isProblem(t, 401)
}

// failingSessions is a Sessions whose next spend (after it landed) or next
// AddRefreshToken fails as an unavailable database does.
type failingSessions struct {
	api.Sessions
	failUse, failAdd atomic.Bool
}

func unavailable() error {
	return orgd.Errorf(orgd.EUNAVAILABLE, "The database is unavailable; retry shortly.")
}

func (f *failingSessions) UseRefreshToken(ctx context.Context, rt orgd.RefreshToken, spender string) (bool, error) {
	first, err := f.Sessions.UseRefreshToken(ctx, rt, spender)
	if err == nil && f.failUse.CompareAndSwap(true, false) {
		return false, unavailable() // written, but the answer was lost
	}
	return first, err
}

func (f *failingSessions) AddRefreshToken(ctx context.Context, rt orgd.RefreshToken) error {
	if f.failAdd.CompareAndSwap(true, false) {
		return unavailable()
	}
	return f.Sessions.AddRefreshToken(ctx, rt)
}

// TestRefreshRetry checks that a refresh the database failed halfway (503),
// while spending the token or after, can be retried with the same token, as
// the 503 says, and is not taken for a stolen token's reuse: the retry gets
// tokens and the login stays.
func TestRefreshRetry(t *testing.T) {
	f := &failingSessions{}
	e := newEnv(t, func(d *api.Deps) { f.Sessions = d.Store.(api.Sessions); d.Sessions = f })
	e.create(acme).mustStatus(t, 201)
	for _, fail := range []*atomic.Bool{&f.failUse, &f.failAdd} {
		tok := e.loginTokens(acme.email, acme.password)
		fail.Store(true)
		e.refresh(tok.refresh).isProblem(t, 503)
		next := tokensOf(t, e.refresh(tok.refresh).mustStatus(t, 200))
		if !e.works(tok.access) || !e.works(next.access) {
			t.Fatal("the retried refresh revoked the login")
		}
		tokensOf(t, e.refresh(next.refresh).mustStatus(t, 200))
		e.refresh(tok.refresh).isProblem(t, 401) // now a reuse
	}
}
