package api

import (
	"context"
	"crypto/rand"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/auth"
)

// Sessions keeps logins, their refresh tokens and their revocations. Every
// method is an _id lookup or insert, except revocation of many sessions.
type Sessions interface {
	CreateSession(ctx context.Context, orgID, adminID string, expiresAt time.Time, refreshHash string) (*orgd.Session, error)
	SessionByID(ctx context.Context, id string) (*orgd.Session, error)
	AddRefreshToken(ctx context.Context, rt orgd.RefreshToken) error
	RefreshTokenByHash(ctx context.Context, hash string) (*orgd.RefreshToken, error)
	// UseRefreshToken marks rt exchanged by spender; false means it already
	// was (a reuse).
	UseRefreshToken(ctx context.Context, rt orgd.RefreshToken, spender string) (first bool, err error)
	// ReleaseRefreshToken undoes spender's UseRefreshToken when no new token
	// was issued.
	ReleaseRefreshToken(ctx context.Context, rt orgd.RefreshToken, spender string) error
	// SessionRevoked is checked on every authenticated request.
	SessionRevoked(ctx context.Context, id string) (bool, error)
	RevokeSession(ctx context.Context, id, reason string) error
	RevokeOrganizationSessions(ctx context.Context, orgID, reason string) error
}

// Throttle limits failed logins per account and per client address.
type Throttle interface {
	Attempt(account, addr string) auth.Verdict
	Failed(account, addr string) auth.Verdict
	Succeeded(account, addr string)
	Cancel(account, addr string)
}

type (
	loginInput struct {
		Body struct {
			Email    string `json:"email" maxLength:"254" example:"admin@acme.test"`
			Password string `json:"password" example:"correct horse battery"`
		}
	}
	refreshInput struct {
		Body struct {
			RefreshToken string `json:"refresh_token" maxLength:"128" doc:"The refresh token of the last login or refresh; each is accepted once"`
		}
	}
	tokenOutput struct {
		CacheControl string `header:"Cache-Control"`
		Body         struct {
			AccessToken      string `json:"access_token"`
			TokenType        string `json:"token_type" example:"bearer"`
			ExpiresIn        int    `json:"expires_in" doc:"Seconds until the access token expires"`
			RefreshToken     string `json:"refresh_token" doc:"Opaque; exchange it at /admin/refresh for new tokens. Valid once."`
			RefreshExpiresIn int    `json:"refresh_expires_in" doc:"Seconds until the login ends and the refresh token is refused"`
		}
	}
)

// wrongLogin is the one answer to every failed login, whatever the reason.
func wrongLogin() error { return orgd.Errorf(orgd.EUNAUTHORIZED, "Wrong email or password.") }

// badRefresh is the one answer to every refused refresh token.
func badRefresh() error {
	return orgd.Errorf(orgd.EUNAUTHORIZED, "Invalid, expired or revoked refresh token; log in again.")
}

func (s *Server) handleLogin(ctx context.Context, in *loginInput) (*tokenOutput, error) {
	b := &in.Body
	var v orgd.Validation
	if b.Email == "" {
		v.Check("email", "is required")
	}
	v.Check("password", orgd.CheckablePassword(b.Password)) // too long or malformed: never truncated, never tried
	if err := v.Err(); err != nil {
		return nil, s.problem(ctx, err)
	}
	sent := b.Email
	b.Email = canonicalEmail(b.Email)
	addr, account := throttleAddr(clientInfo(ctx).ClientAddr), orgd.NormalizeEmail(b.Email)
	if verdict := s.Throttle.Attempt(account, addr); verdict.Busy {
		return nil, s.problem(ctx, &orgd.Error{Code: orgd.ETOOMANY,
			Message: "Too many logins are under way for this account or from this address; retry in a moment.", RetryAfter: verdict.RetryAfter})
	} else if !verdict.Allowed {
		s.Logger.WarnContext(ctx, "login refused: too many failures", "scope", verdict.Scope, "client_addr", clientInfo(ctx).ClientAddr)
		return nil, s.problem(ctx, &orgd.Error{Code: orgd.ETOOMANY,
			Message: "Too many failed logins for this account or from this address; retry later.", RetryAfter: verdict.RetryAfter})
	}
	cancel := func(err error) error { s.Throttle.Cancel(account, addr); return s.problem(ctx, err) }
	hash := "" // unknown email: still pay for one bcrypt comparison
	admin, err := s.Store.AdminByEmail(ctx, b.Email)
	if orgd.ErrorCode(err) == orgd.ENOTFOUND && sent != b.Email {
		// An admin created before emails were stored in form C keeps the
		// form it was created with.
		admin, err = s.Store.AdminByEmail(ctx, sent)
	}
	if err == nil {
		hash = admin.PasswordHash
	} else if orgd.ErrorCode(err) != orgd.ENOTFOUND {
		return nil, cancel(err)
	} else {
		admin = nil
	}
	ok, err := s.Passwords.Check(ctx, hash, b.Password)
	if err != nil {
		return nil, cancel(err)
	}
	if !ok {
		s.loginFailed(ctx, admin, s.Throttle.Failed(account, addr))
		return nil, s.problem(ctx, wrongLogin())
	}
	s.Throttle.Succeeded(account, addr)
	org, err := s.Store.OrganizationByID(ctx, admin.OrgID)
	if err != nil || !org.SignsIn() {
		if err != nil && orgd.ErrorCode(err) != orgd.ENOTFOUND {
			return nil, s.problem(ctx, err)
		}
		return nil, s.problem(ctx, wrongLogin())
	}
	out, sess, err := s.startSession(ctx, admin)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	// A password change that committed while this login compared the old
	// hash has revoked the admin's sessions, this one included if it already
	// existed; if it did not, the hash read again now has changed. Read from
	// the database: the hash compared may have come from a cache that has not
	// seen another instance's change yet.
	if again, err := s.Store.AdminFromDB(ctx, admin.ID); err != nil || again.PasswordHash != admin.PasswordHash {
		if rerr := s.Sessions.RevokeSession(ctx, sess.ID, orgd.RevokePasswordChanged); rerr != nil {
			s.Logger.ErrorContext(ctx, "revoke a login that raced a password change", "err", rerr)
		}
		if err != nil && orgd.ErrorCode(err) != orgd.ENOTFOUND {
			return nil, s.problem(ctx, err)
		}
		return nil, s.problem(ctx, wrongLogin())
	}
	s.record(ctx, orgd.Event{Type: orgd.EventLogin, OrgID: admin.OrgID, Actor: admin.ID, Outcome: orgd.OutcomeSuccess,
		Details: map[string]string{"session_id": sess.ID}})
	return out, nil
}

// throttleAddr is the key a client address is throttled under: an IPv6
// address by its /64, since one subscriber usually holds a whole /64 and
// could otherwise take a fresh address for every few guesses.
func throttleAddr(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// loginFailed audits a failed login and, when it reaches a limit, the lockout.
func (s *Server) loginFailed(ctx context.Context, admin *orgd.Admin, v auth.Verdict) {
	e := orgd.Event{Type: orgd.EventLogin, Outcome: orgd.OutcomeFailure, Actor: orgd.ActorAnonymous,
		Details: map[string]string{"reason": "unknown_account"}}
	if admin != nil { // the admin targeted, not the actor: nobody authenticated
		e.OrgID, e.Details["reason"], e.Details["admin_id"] = admin.OrgID, "wrong_password", admin.ID
	}
	s.record(ctx, e)
	if !v.Locks {
		return
	}
	lockout := func(scope string, from []string) {
		lock := orgd.Event{Type: orgd.EventLockout, OrgID: e.OrgID, Actor: orgd.ActorAnonymous, Outcome: orgd.OutcomeLocked,
			Details: map[string]string{"scope": scope}}
		if admin != nil {
			lock.Details["admin_id"] = admin.ID
		}
		if len(from) > 0 {
			lock.Details["failures_from"] = strings.Join(from, " ")
		}
		s.Logger.WarnContext(ctx, "login lockout", "scope", scope, "org_id", e.OrgID, "client_addr", clientInfo(ctx).ClientAddr)
		s.record(ctx, lock)
	}
	lockout(v.Scope, v.From)
	if v.AddressLocks { // the same failure locked the address too: every account, from there
		lockout(auth.ScopeAddress, []string{throttleAddr(clientInfo(ctx).ClientAddr)})
	}
}

// startSession creates a login of admin and its first tokens.
func (s *Server) startSession(ctx context.Context, admin *orgd.Admin) (*tokenOutput, *orgd.Session, error) {
	refresh, hash, err := auth.NewRefreshToken()
	if err != nil {
		return nil, nil, err
	}
	sess, err := s.Sessions.CreateSession(ctx, admin.OrgID, admin.ID, s.Now().Add(s.Security.RefreshTTL), hash)
	if err != nil {
		return nil, nil, err
	}
	out, err := s.tokens(sess, refresh)
	return out, sess, err
}

// tokens signs an access token of sess and answers it with refresh.
func (s *Server) tokens(sess *orgd.Session, refresh string) (*tokenOutput, error) {
	token, claims, err := s.Tokens.IssueUntil(sess.AdminID, sess.OrgID, sess.ID, sess.ExpiresAt)
	if err != nil {
		return nil, err
	}
	out := &tokenOutput{CacheControl: "no-store"}
	out.Body.AccessToken = token
	out.Body.TokenType = "bearer"
	out.Body.ExpiresIn = int(claims.ExpiresAt.Sub(claims.IssuedAt).Seconds())
	out.Body.RefreshToken = refresh
	out.Body.RefreshExpiresIn = max(int(sess.ExpiresAt.Sub(s.Now()).Round(time.Second).Seconds()), 0) // 2592000, not 2591999, for a new login
	return out, nil
}

// handleRefresh rotates a refresh token: the presented one is marked used by
// inserting its used-marker (the one atomic step), and only the request whose
// insert succeeds gets new tokens. Presenting a used token again means it was
// copied: the whole login is revoked, for the thief and the owner alike.
func (s *Server) handleRefresh(ctx context.Context, in *refreshInput) (*tokenOutput, error) {
	hash, ok := auth.RefreshTokenHash(in.Body.RefreshToken)
	if !ok {
		return nil, s.problem(ctx, badRefresh())
	}
	rt, err := s.Sessions.RefreshTokenByHash(ctx, hash)
	if orgd.ErrorCode(err) == orgd.ENOTFOUND {
		return nil, s.problem(ctx, badRefresh())
	} else if err != nil {
		return nil, s.problem(ctx, err)
	}
	fail := func(reason string) error {
		s.record(ctx, orgd.Event{Type: orgd.EventRefresh, OrgID: rt.OrgID, Actor: orgd.ActorAnonymous, Outcome: orgd.OutcomeFailure,
			Details: map[string]string{"session_id": rt.SessionID, "reason": reason, "admin_id": rt.AdminID}})
		return s.problem(ctx, badRefresh())
	}
	if !s.Now().Before(rt.ExpiresAt) {
		return nil, fail("expired")
	}
	// When the database fails (503) from the spend on, the token is given
	// back, so that the retry the 503 asks for is not taken for a stolen
	// token's reuse (a spend that failed may still have landed).
	spender := rand.Text()
	giveBack := func(err error) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := s.Sessions.ReleaseRefreshToken(rctx, *rt, spender); rerr != nil {
			s.Logger.WarnContext(ctx, "refresh failed and its token could not be released", "session_id", rt.SessionID, "err", rerr)
		}
		return s.problem(ctx, err)
	}
	first, err := s.Sessions.UseRefreshToken(ctx, *rt, spender)
	if err != nil {
		return nil, giveBack(err)
	}
	if !first {
		// A spent token of a login that has ended (logged out, revoked) is
		// refused like any other: there is nothing left to revoke.
		if _, err := s.Sessions.SessionByID(ctx, rt.SessionID); orgd.ErrorCode(err) == orgd.ENOTFOUND {
			return nil, fail("session_ended")
		} else if err != nil {
			return nil, s.problem(ctx, err)
		}
		s.Logger.WarnContext(ctx, "refresh token reused: revoking its login", "org_id", rt.OrgID, "session_id", rt.SessionID)
		err := s.Sessions.RevokeSession(ctx, rt.SessionID, orgd.RevokeReuse)
		if err == nil || s.revokedAnyway(ctx, rt.SessionID) {
			s.record(ctx, orgd.Event{Type: orgd.EventTokenReuse, OrgID: rt.OrgID, Actor: orgd.ActorAnonymous, Outcome: orgd.OutcomeRevoked,
				Details: map[string]string{"session_id": rt.SessionID, "admin_id": rt.AdminID}})
		}
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, s.problem(ctx, badRefresh())
	}
	// The session is checked only now that the token is spent, so that a
	// revocation that raced the exchange (another exchange's reuse) is seen.
	sess, err := s.Sessions.SessionByID(ctx, rt.SessionID)
	if orgd.ErrorCode(err) == orgd.ENOTFOUND {
		return nil, fail("session_ended")
	} else if err != nil {
		return nil, giveBack(err)
	}
	if revoked, err := s.Sessions.SessionRevoked(ctx, sess.ID); err != nil {
		return nil, giveBack(err)
	} else if revoked {
		return nil, fail("session_revoked")
	}
	org, err := s.Store.OrganizationByID(ctx, sess.OrgID)
	if orgd.ErrorCode(err) == orgd.ENOTFOUND || err == nil && (!org.SignsIn() || org.AdminID != sess.AdminID) {
		return nil, fail("organization_gone")
	} else if err != nil {
		return nil, giveBack(err)
	}
	refresh, newHash, err := auth.NewRefreshToken()
	if err != nil {
		return nil, giveBack(err)
	}
	// The new token carries how long the login's earlier access tokens pass,
	// which an instance with a longer token lifetime may have issued.
	next := orgd.RefreshToken{Hash: newHash, SessionID: sess.ID, OrgID: sess.OrgID, AdminID: sess.AdminID, IssuedAt: s.Now(), ExpiresAt: sess.ExpiresAt,
		TokensUntil: rt.TokensUntil, Replaces: rt.Hash}
	out, err := s.tokens(sess, refresh)
	if err == nil {
		err = s.Sessions.AddRefreshToken(ctx, next)
	}
	if err != nil {
		return nil, giveBack(err)
	}
	s.record(ctx, orgd.Event{Type: orgd.EventRefresh, OrgID: sess.OrgID, Actor: sess.AdminID, Outcome: orgd.OutcomeSuccess,
		Details: map[string]string{"session_id": sess.ID}})
	return out, nil
}

type logoutOutput struct {
	CacheControl string `header:"Cache-Control"`
}

// handleLogout revokes the caller's login: its access and refresh tokens.
func (s *Server) handleLogout(ctx context.Context, _ *struct{}) (*logoutOutput, error) {
	p := caller(ctx)
	err := s.Sessions.RevokeSession(ctx, p.Claims.SessionID, orgd.RevokeLogout)
	if err == nil || s.revokedAnyway(ctx, p.Claims.SessionID) {
		s.record(ctx, orgd.Event{Type: orgd.EventLogout, OrgID: p.Org.ID, Outcome: orgd.OutcomeSuccess,
			Details: map[string]string{"session_id": p.Claims.SessionID}})
	}
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &logoutOutput{CacheControl: "no-store"}, nil
}

// revokedAnyway reports whether a revocation that failed took effect all
// the same: it failed after recording the revocation, which this instance
// then enforces (and publishes later), so it is audited as done.
func (s *Server) revokedAnyway(ctx context.Context, sessionID string) bool {
	revoked, err := s.Sessions.SessionRevoked(ctx, sessionID)
	return err == nil && revoked
}

type jwksOutput struct {
	ContentType  string `header:"Content-Type"`
	CacheControl string `header:"Cache-Control"`
	Body         []byte
}

// handleJWKS serves the public keys that verify orgd's access tokens; an
// HS256-only deployment serves an empty set. Verifiers may cache it briefly:
// add a new key here (verification only) longer than that before it signs.
func (s *Server) handleJWKS(ctx context.Context, _ *struct{}) (*jwksOutput, error) {
	return &jwksOutput{ContentType: "application/jwk-set+json", CacheControl: "public, max-age=" + strconv.Itoa(jwksMaxAge), Body: s.Tokens.JWKS()}, nil
}

// jwksMaxAge is how long, in seconds, verifiers may cache the JWKS.
const jwksMaxAge = 300
