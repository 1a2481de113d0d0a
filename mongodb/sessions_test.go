package mongodb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRefreshTokenUse checks the compare-and-set of rotation: a refresh
// token is marked used once; the second mark reports a reuse.
func TestRefreshTokenUse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	sess, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(time.Hour), "hash1")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := s.RefreshTokenByHash(ctx, "hash1")
	if err != nil || rt.SessionID != sess.ID || rt.AdminID != "admin1" {
		t.Fatalf("RefreshTokenByHash = %+v, %v", rt, err)
	}
	use := func(spender string, want bool) {
		t.Helper()
		if first, err := s.UseRefreshToken(ctx, *rt, spender); err != nil || first != want {
			t.Errorf("use by %s: first = %v, %v; want %v", spender, first, err, want)
		}
	}
	use("a", true)
	use("b", false)
	use("b", false)
	// Only the exchange that spent the token gives it back.
	if err := s.ReleaseRefreshToken(ctx, *rt, "b"); err != nil {
		t.Fatal(err)
	}
	use("c", false)
	if err := s.ReleaseRefreshToken(ctx, *rt, "a"); err != nil {
		t.Fatal(err)
	}
	use("c", true)
	if _, err := s.RefreshTokenByHash(ctx, "nope"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("unknown hash: %v", err)
	}
}

// TestPasswordChangeRevokesSessions checks that a password change revokes
// the admin's sessions inside the journaled operation, so that an
// interrupted change that the reconciler finishes revokes them too, and that
// other changes do not.
func TestPasswordChangeRevokesSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	o, err := s.CreateOrganization(ctx, "acme", "a@acme.test", "hash-1")
	if err != nil {
		t.Fatal(err)
	}
	login := func() string {
		sess, err := s.CreateSession(ctx, o.ID, o.AdminID, f.clock.Now().Add(time.Hour), "h-"+time.Now().String())
		if err != nil {
			t.Fatal(err)
		}
		return sess.ID
	}
	revoked := func(id string) bool {
		r, err := s.SessionRevoked(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := login()
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{Name: ptr("acme2"), Email: ptr("b@acme.test")}); err != nil {
		t.Fatal(err)
	}
	if revoked(a) {
		t.Fatal("a rename and an email change revoked the login")
	}
	b := login()
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{PasswordHash: ptr("hash-2")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		if !revoked(id) {
			t.Errorf("session %s survived the password change", id)
		}
		if _, err := s.SessionByID(ctx, id); orgd.ErrorCode(err) != orgd.ENOTFOUND {
			t.Errorf("session %s still exists: %v", id, err)
		}
	}

	// Interrupted just before the admin is updated: the reconciler finishes it.
	c := login()
	s.SetHooks(abortAt("update_admin"))
	if _, err := s.UpdateOrganization(ctx, o.ID, orgd.OrganizationUpdate{PasswordHash: ptr("hash-3")}); err == nil {
		t.Fatal("the interrupted update succeeded")
	}
	if revoked(c) {
		t.Fatal("revoked before the new password was stored")
	}
	f.restartLater()
	s = f.store("")
	if _, err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !revoked(c) {
		t.Error("the resumed password change did not revoke the login")
	}
	f.mustHold(s)
}

// TestPruneAuth checks that expired sessions, refresh tokens and revocations
// are deleted and live ones kept.
func TestPruneAuth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.sessionStore(time.Minute)
	short, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(time.Hour), "short")
	if err != nil {
		t.Fatal(err)
	}
	long, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(48*time.Hour), "long")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(48*time.Hour), "gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, gone.ID, orgd.RevokeLogout); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2*time.Minute + time.Second) // past the revocation's minute and its one-minute margin
	if r, _ := s.SessionRevoked(ctx, gone.ID); !r {
		t.Fatal("revocation forgotten before pruning")
	}
	if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.SessionRevoked(ctx, gone.ID); r {
		t.Error("an expired revocation was kept")
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, short.ID); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("expired session kept: %v", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, "short"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("expired refresh token kept: %v", err)
	}
	if _, err := s.SessionByID(ctx, long.ID); err != nil {
		t.Errorf("live session pruned: %v", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, "long"); err != nil {
		t.Errorf("live refresh token pruned: %v", err)
	}
}

// TestRevocationOutlivesTheLongestToken revokes a login on an instance
// whose access tokens live a minute, while the login's first token came from
// one whose tokens live 15 minutes (another instance, or this one before a
// restart with a shorter ORGD_TOKEN_TTL), whether or not the short-lived
// instance has exchanged that login's refresh token since, or begun to: the
// revocation must be kept until that first access token has expired, else
// pruning it lets the token pass again.
func TestRevocationOutlivesTheLongestToken(t *testing.T) {
	for _, tt := range []struct {
		name             string
		exchanged, spent bool
	}{{"first token", false, false}, {"token exchanged since", true, false}, {"token spent by an exchange not finished", false, true}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			long, short := f.sessionStore(15*time.Minute), f.sessionStore(time.Minute)
			sess, err := long.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(48*time.Hour), "h1")
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
			switch {
			case tt.exchanged:
				exchange(t, short, f.clock.Now(), "h1", "h2")
			case tt.spent: // the exchange fails after this (its login is revoked meanwhile)
				rt, err := short.RefreshTokenByHash(ctx, "h1")
				if err != nil {
					t.Fatal(err)
				}
				if first, err := short.UseRefreshToken(ctx, *rt, "x"); err != nil || !first {
					t.Fatalf("spend: %v, %v", first, err)
				}
			}
			if err := short.RevokeSession(ctx, sess.ID, orgd.RevokeLogout); err != nil {
				t.Fatal(err)
			}
			for _, step := range []struct {
				at      time.Duration // after the login
				revoked bool
			}{{5 * time.Minute, true}, {15*time.Minute + 30*time.Second, true}, {16*time.Minute + 30*time.Second, false}} {
				f.clock.Advance(sess.CreatedAt.Add(step.at).Sub(f.clock.Now()))
				if _, err := short.PruneAuth(ctx, time.Hour); err != nil {
					t.Fatal(err)
				}
				if r, err := long.SessionRevoked(ctx, sess.ID); err != nil || r != step.revoked {
					t.Errorf("revoked %v (%v) %v after the login, want %v", r, err, step.at, step.revoked)
				}
			}
		})
	}
}

// TestInterruptedRevocationDoesNotLapse leaves a revocation as one cut off
// after its first step does: recorded, its session and refresh token still
// there. When the record expires, pruning must end the session rather than
// let its refresh token log in again, and not before the login's access
// tokens have expired.
func TestInterruptedRevocationDoesNotLapse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.sessionStore(time.Minute)
	// cutOff records a revocation of a new login from store, for 2 minutes,
	// as a revocation cut off after its first step leaves it.
	cutOff := func(store *mongodb.Store, hash string) *orgd.Session {
		t.Helper()
		sess, err := store.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(48*time.Hour), hash)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.db.Client.Database(f.db.MasterDB).Collection("revoked_sessions").InsertOne(ctx, bson.D{
			{Key: "_id", Value: sess.ID}, {Key: "reason", Value: orgd.RevokeLogout},
			{Key: "revoked_at", Value: f.clock.Now()}, {Key: "expires_at", Value: f.clock.Now().Add(2 * time.Minute)}})
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	cut := cutOff(s, "cut")
	f.clock.Advance(3 * time.Minute)
	if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, cut.ID); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("the revoked session outlived its revocation: %v", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, "cut"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("the revoked session's refresh token outlived its revocation: %v", err)
	}

	// Cut off the same way, a revocation of a login whose access token came
	// from an instance whose tokens live an hour: it lasts until that token
	// has expired, and only then goes with the login.
	long := cutOff(f.sessionStore(time.Hour), "long")
	for _, step := range []struct {
		after   time.Duration
		revoked bool
	}{{3 * time.Minute, true}, {57 * time.Minute, true}, {2 * time.Minute, false}} {
		f.clock.Advance(step.after)
		if _, err := s.PruneAuth(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if r, err := f.sessionStore(time.Minute).SessionRevoked(ctx, long.ID); err != nil || r != step.revoked {
			t.Errorf("revoked %v (%v) %v after the login, want %v", r, err, f.clock.Now().Sub(long.CreatedAt), step.revoked)
		}
	}
	if _, err := s.SessionByID(ctx, long.ID); orgd.ErrorCode(err) != orgd.ENOTFOUND {
		t.Errorf("the revoked session outlived its revocation: %v", err)
	}
}

// TestRevocationNotPublished fails a logout after its revocation is
// recorded: at reading how long the login's tokens live, or at publishing it
// to other instances. The logout reports the error, but its login ends
// everywhere at once (its refresh token is gone), and the publication is made
// in the background: the client, whose token is refused here, cannot ask
// again.
func TestRevocationNotPublished(t *testing.T) {
	for _, failing := range []string{"tokens", "publish"} {
		t.Run(failing, func(t *testing.T) {
			f := newFixture(t)
			f.cache = time.Minute
			ctx := context.Background()
			s, other := f.store(""), f.store("")
			sess, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(time.Hour), "rt")
			if err != nil {
				t.Fatal(err)
			}
			if err := other.SyncCache(ctx); err != nil { // as a running instance has
				t.Fatal(err)
			}
			if r, err := other.SessionRevoked(ctx, sess.ID); err != nil || r {
				t.Fatalf("before: revoked %v, %v", r, err)
			}
			failed := errors.New("the database went away")
			s.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
				if op == "revoke" && step == failing {
					return failed
				}
				return nil
			}})
			if err := s.RevokeSession(ctx, sess.ID, orgd.RevokeLogout); !errors.Is(err, failed) {
				t.Fatalf("revoke: %v, want the failure", err)
			}
			if r, _ := s.SessionRevoked(ctx, sess.ID); !r {
				t.Error("not revoked on the revoking instance")
			}
			if _, err := other.RefreshTokenByHash(ctx, "rt"); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("the refresh token outlived the revocation: %v", err)
			}
			if _, err := other.SessionByID(ctx, sess.ID); orgd.ErrorCode(err) != orgd.ENOTFOUND {
				t.Errorf("the session outlived the revocation: %v", err)
			}

			for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
				if err := other.SyncCache(ctx); err != nil {
					t.Fatal(err)
				}
				if r, err := other.SessionRevoked(ctx, sess.ID); err == nil && r {
					break
				} else if time.Since(start) > 10*time.Second {
					t.Fatalf("the other instance never learned of the revocation: %v, %v", r, err)
				}
			}
		})
	}
}

// TestRevocationOutlivesATokenOfARacingRefresh revokes a login on an
// instance whose access tokens live a minute while an instance whose tokens
// live 15 minutes exchanges the login's refresh token: that exchange checked
// the login (not yet revoked, as its cache says) and issued an access token
// for 15 minutes; its new refresh token lands after the revoker read the
// login's tokens_until, and before it deleted the login's refresh tokens.
// The revocation must be kept until that access token has expired.
func TestRevocationOutlivesATokenOfARacingRefresh(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	long, short := f.sessionStore(15*time.Minute), f.sessionStore(time.Minute)
	sess, err := short.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(48*time.Hour), "h1")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	issued := f.clock.Now() // the racing exchange's access token: valid on long until issued+15m
	short.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if op == "revoke" && step == "publish" {
			if err := long.AddRefreshToken(ctx, orgd.RefreshToken{Hash: "h2", SessionID: sess.ID, OrgID: "org1", AdminID: "admin1",
				IssuedAt: issued, ExpiresAt: sess.ExpiresAt}); err != nil {
				t.Error(err)
			}
		}
		return nil
	}})
	if err := short.RevokeSession(ctx, sess.ID, orgd.RevokeLogout); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Minute)
	if _, err := short.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if r, err := long.SessionRevoked(ctx, sess.ID); err != nil || !r {
		t.Errorf("revoked %v (%v) 5 minutes after the logout, though the racing refresh's access token, issued %v ago, passes on its instance for 15 minutes",
			r, err, f.clock.Now().Sub(issued).Round(time.Second))
	}
}

// sessionStore is a store on the fixture's clock whose access tokens live
// ttl (with leeway), as an instance configured so.
func (f *fixture) sessionStore(ttl time.Duration) *mongodb.Store {
	return mongodb.NewStore(f.db.Client, mongodb.Config{MasterDB: f.db.MasterDB, TenantDB: f.db.TenantDB, RevocationTTL: ttl, Now: f.clock.Now})
}
