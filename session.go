package orgd

import "time"

// Session is one login of an admin: the family of refresh tokens rotated
// from it and the access tokens they were exchanged for. Revoking it ends them all.
type Session struct {
	ID        string
	OrgID     string
	AdminID   string
	CreatedAt time.Time
	ExpiresAt time.Time // refresh tokens of the session are refused after it; rotation does not extend it
}

// RefreshToken is a refresh token as stored: its hash, never the token.
type RefreshToken struct {
	Hash      string
	SessionID string
	OrgID     string
	AdminID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// TokensUntil is when the access tokens issued so far in its login, up
	// to the one issued with it, stop passing at the latest. Zero when
	// unknown: the store then counts from IssuedAt.
	TokensUntil time.Time
	// Replaces is the hash of the spent token this one was exchanged for.
	Replaces string
}

// Reasons a session is revoked, as recorded with the revocation.
const (
	RevokeLogout          = "logout"
	RevokeReuse           = "refresh_token_reuse"
	RevokePasswordChanged = "password_changed"
	RevokeOrgDeleted      = "organization_deleted"
)
