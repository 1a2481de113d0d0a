// Package auth issues and verifies access tokens, makes refresh tokens,
// hashes passwords within bounds and throttles login attempts.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what an access token asserts: which admin of which organization,
// within which login (session), until when.
type Claims struct {
	AdminID   string // sub
	OrgID     string // org_id
	SessionID string // sid: revoking the session revokes the token
	ID        string // jti
	KeyID     string // kid of the key that signed it
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// ErrInvalidToken is returned for every token that must not be trusted.
var ErrInvalidToken = errors.New("invalid token")

// Defaults of Config.
const (
	Issuer        = "orgd"           // default "iss"
	Audience      = "orgd"           // default "aud"
	TokenType     = "at+jwt"         // the "typ" header of access tokens (RFC 9068), checked on verification
	DefaultLeeway = 30 * time.Second // clock skew tolerated by NewTokens
	maxTokenLen   = 4096             // longer input is refused before it is parsed
)

// Config describes how tokens are signed and verified.
type Config struct {
	// Keys verify tokens; Keys[0] also signs them. Keep a retired key here
	// (an Ed25519 key may be reduced to its public part) until the last
	// token it signed has expired.
	Keys     []Key
	Issuer   string // "iss"; empty means Issuer
	Audience string // "aud"; empty means Audience
	TTL      time.Duration
	Leeway   time.Duration // clock skew tolerated on exp, iat and nbf
	Now      func() time.Time
}

// Tokens signs and verifies access tokens.
type Tokens struct {
	sign   Key
	byID   map[string]Key
	algs   []string
	iss    string
	aud    string
	ttl    time.Duration
	leeway time.Duration
	now    func() time.Time
	jwks   []byte
	seen   verified
}

// New returns a Tokens as cfg describes.
func New(cfg Config) (*Tokens, error) {
	if len(cfg.Keys) == 0 || !cfg.Keys[0].CanSign() {
		return nil, errors.New("the first JWT key must be able to sign (an HS256 secret or an Ed25519 private key)")
	}
	if cfg.TTL <= 0 {
		return nil, errors.New("token lifetime must be positive")
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, errors.New("clock skew leeway must be between 0 and 5m")
	}
	t := &Tokens{sign: cfg.Keys[0], byID: map[string]Key{}, iss: cfg.Issuer, aud: cfg.Audience, ttl: cfg.TTL, leeway: cfg.Leeway, now: cfg.Now}
	if t.iss == "" {
		t.iss = Issuer
	}
	if t.aud == "" {
		t.aud = Audience
	}
	if t.now == nil {
		t.now = time.Now
	}
	for _, k := range cfg.Keys {
		if k.id == "" {
			return nil, errors.New("a JWT key is empty")
		}
		if _, dup := t.byID[k.id]; dup {
			return nil, fmt.Errorf("JWT key %s is configured twice", k.id)
		}
		t.byID[k.id] = k
		if !slices.Contains(t.algs, k.alg) {
			t.algs = append(t.algs, k.alg)
		}
	}
	t.jwks = jwks(cfg.Keys)
	return t, nil
}

// NewTokens returns a Tokens signing HS256 with secret, with the default
// issuer, audience and leeway; now is the clock.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	k, err := SecretKey(secret)
	if err != nil {
		return nil, err
	}
	return New(Config{Keys: []Key{k}, TTL: ttl, Leeway: DefaultLeeway, Now: now})
}

// TTL is how long issued tokens stay valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// JWKS returns the JSON Web Key Set of the public verification keys.
func (t *Tokens) JWKS() []byte { return t.jwks }

type jwtClaims struct {
	OrgID     string `json:"org_id"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Issue signs a token for the admin adminID of organization orgID, within
// the session sessionID.
func (t *Tokens) Issue(adminID, orgID, sessionID string) (string, Claims, error) {
	return t.IssueUntil(adminID, orgID, sessionID, time.Time{})
}

// IssueUntil is Issue for a session that ends at end: the token expires
// then at the latest. A token that outlived its login would outlive the
// records that let a revocation find it.
func (t *Tokens) IssueUntil(adminID, orgID, sessionID string, end time.Time) (string, Claims, error) {
	now := t.now().Truncate(time.Second)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", Claims{}, err
	}
	exp := now.Add(t.ttl)
	if !end.IsZero() && end.Before(exp) {
		exp = end.Truncate(time.Second)
		if exp.Before(now) { // never before it was issued
			exp = now
		}
	}
	c := Claims{AdminID: adminID, OrgID: orgID, SessionID: sessionID, ID: b64(jti), KeyID: t.sign.id,
		IssuedAt: now, ExpiresAt: exp}
	tok := jwt.NewWithClaims(method(t.sign.alg), jwtClaims{
		OrgID:     orgID,
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.iss,
			Subject:   adminID,
			Audience:  jwt.ClaimStrings{t.aud},
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			ID:        c.ID,
		},
	})
	tok.Header["kid"] = t.sign.id
	tok.Header["typ"] = TokenType
	s, err := tok.SignedString(t.sign.signingKey())
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign token: %w", err)
	}
	return s, c, nil
}

// Verify checks a token and returns its claims. The key is chosen by "kid"
// alone and the algorithm must be that key's (no algorithm confusion, no
// "none"); typ, iss, aud, exp, iat, jti, sub, org_id and sid are all required,
// and exp, iat and nbf are checked with the configured leeway. Every failure
// is ErrInvalidToken, wrapped with the reason.
func (t *Tokens) Verify(token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	seen, key, ok := t.seen.get(token)
	if ok && current(seen, t.now(), t.leeway) {
		return seen, nil
	} else if ok {
		t.seen.forget(key) // expired: verified again below, to fail with the reason
	}
	var c jwtClaims
	tok, err := jwt.ParseWithClaims(token, &c, t.keyFor,
		jwt.WithValidMethods(t.algs),
		jwt.WithIssuer(t.iss),
		jwt.WithAudience(t.aud),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(t.leeway),
		jwt.WithTimeFunc(t.now),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.IssuedAt == nil || c.ID == "" || c.Subject == "" || c.OrgID == "" || c.SessionID == "" {
		return Claims{}, fmt.Errorf("%w: missing iat, jti, sub, org_id or sid", ErrInvalidToken)
	}
	kid, _ := tok.Header["kid"].(string)
	claims := Claims{AdminID: c.Subject, OrgID: c.OrgID, SessionID: c.SessionID, ID: c.ID, KeyID: kid,
		IssuedAt: c.IssuedAt.Time, ExpiresAt: c.ExpiresAt.Time}
	// A token lives no longer than the lifetime configured now, whatever its
	// exp: a revocation is remembered only that long, and a token issued
	// before the lifetime was lowered must not outlast the record of its
	// logout.
	if end := claims.IssuedAt.Add(t.ttl); end.Before(claims.ExpiresAt) {
		claims.ExpiresAt = end
		if !current(claims, t.now(), t.leeway) {
			return Claims{}, fmt.Errorf("%w: issued longer ago than the token lifetime configured now", ErrInvalidToken)
		}
	}
	t.seen.put(key, claims, t.now())
	return claims, nil
}

// keyFor picks the verification key named by the token's kid, and pins the
// algorithm to that key's.
func (t *Tokens) keyFor(tok *jwt.Token) (any, error) {
	if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(strings.TrimPrefix(typ, "application/"), TokenType) {
		return nil, fmt.Errorf("typ %q, want %q", typ, TokenType)
	}
	if _, ok := tok.Header["crit"]; ok {
		return nil, errors.New("crit header parameters are not supported")
	}
	kid, _ := tok.Header["kid"].(string)
	k, ok := t.byID[kid]
	if !ok {
		return nil, errors.New("unknown or missing kid")
	}
	if tok.Method.Alg() != k.alg {
		return nil, fmt.Errorf("alg %s does not match key %s (%s)", tok.Method.Alg(), kid, k.alg)
	}
	return k.verifyKey(), nil
}

func method(alg string) jwt.SigningMethod {
	if alg == EdDSA {
		return jwt.SigningMethodEdDSA
	}
	return jwt.SigningMethodHS256
}

func (k Key) signingKey() any {
	if k.alg == EdDSA {
		return k.priv
	}
	return k.secret
}

func (k Key) verifyKey() any {
	if k.alg == EdDSA {
		return k.pub
	}
	return k.secret
}
