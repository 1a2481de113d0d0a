// Package auth issues and verifies access tokens and hashes passwords.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what an access token asserts: which admin of which organization.
type Claims struct {
	AdminID   string
	OrgID     string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// ErrInvalidToken is returned for every token that must not be trusted.
var ErrInvalidToken = errors.New("invalid token")

// MinSecretLen is the shortest HS256 secret accepted (256 bits, RFC 7518 3.2).
const MinSecretLen = 32

// Issuer is the "iss" of every token orgd signs.
const Issuer = "orgd"

// Tokens signs and verifies HS256 access tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a Tokens signing with secret; now is the clock.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("JWT secret must be at least %d bytes", MinSecretLen)
	}
	if ttl <= 0 {
		return nil, errors.New("token lifetime must be positive")
	}
	return &Tokens{secret: secret, ttl: ttl, now: now}, nil
}

// TTL is how long issued tokens stay valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

type jwtClaims struct {
	OrgID string `json:"org_id"`
	jwt.RegisteredClaims
}

// Issue signs a token for the admin adminID of organization orgID.
func (t *Tokens) Issue(adminID, orgID string) (string, Claims, error) {
	now := t.now().Truncate(time.Second)
	c := Claims{AdminID: adminID, OrgID: orgID, IssuedAt: now, ExpiresAt: now.Add(t.ttl)}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		OrgID: orgID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   adminID,
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
	})
	s, err := tok.SignedString(t.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign token: %w", err)
	}
	return s, c, nil
}

// Verify checks a token's signature, algorithm, issuer and lifetime and returns
// its claims; every failure is ErrInvalidToken, wrapped with the reason.
func (t *Tokens) Verify(token string) (Claims, error) {
	var c jwtClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.OrgID == "" {
		return Claims{}, fmt.Errorf("%w: missing sub or org_id", ErrInvalidToken)
	}
	return Claims{AdminID: c.Subject, OrgID: c.OrgID, IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time}, nil
}
