package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/orgd/orgd/auth"
)

// keyring is a signing Ed25519 key, an HS256 secret that only verifies, and
// a clock the test moves.
type keyring struct {
	now    time.Time
	priv   ed25519.PrivateKey
	ed, hs auth.Key
	secret []byte
	tokens *auth.Tokens
}

func newKeyring(t *testing.T) *keyring {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &keyring{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), priv: priv, ed: auth.Ed25519Key(priv), secret: []byte(strings.Repeat("s", 32))}
	if k.hs, err = auth.SecretKey(k.secret); err != nil {
		t.Fatal(err)
	}
	k.tokens, err = auth.New(auth.Config{Keys: []auth.Key{k.ed, k.hs}, TTL: 15 * time.Minute, Leeway: 30 * time.Second,
		Now: func() time.Time { return k.now }})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// forge signs claims with header fields over the defaults, with key (nil: alg none).
func forge(t *testing.T, m jwt.SigningMethod, key any, header, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (k *keyring) claims(change map[string]any) map[string]any {
	c := map[string]any{"iss": "orgd", "aud": []string{"orgd"}, "sub": "admin1", "org_id": "org1", "sid": "sess1",
		"jti": "j1", "iat": k.now.Unix(), "exp": k.now.Add(15 * time.Minute).Unix()}
	for name, v := range change {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	return c
}

// TestTokenClaims checks that an issued token carries every claim a
// verifier needs, and the header names its key and type.
func TestTokenClaims(t *testing.T) {
	k := newKeyring(t)
	tok, c, err := k.tokens.Issue("admin1", "org1", "sess1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	var header, payload map[string]any
	for i, v := range []*map[string]any{&header, &payload} {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[i])
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	if header["alg"] != "EdDSA" || header["kid"] != k.ed.ID() || header["typ"] != "at+jwt" {
		t.Errorf("header %v", header)
	}
	for _, name := range []string{"iss", "aud", "exp", "iat", "jti", "sub", "org_id", "sid"} {
		if payload[name] == nil {
			t.Errorf("claim %s missing: %v", name, payload)
		}
	}
	got, err := k.tokens.Verify(tok)
	same := got.AdminID == c.AdminID && got.OrgID == c.OrgID && got.SessionID == c.SessionID && got.ID == c.ID &&
		got.KeyID == c.KeyID && got.IssuedAt.Equal(c.IssuedAt) && got.ExpiresAt.Equal(c.ExpiresAt)
	if err != nil || !same || got.KeyID != k.ed.ID() || got.ID == "" {
		t.Errorf("Verify = %+v, %v; issued %+v", got, err, c)
	}
	other, _, _ := k.tokens.Issue("admin1", "org1", "sess1")
	if o, _ := k.tokens.Verify(other); o.ID == got.ID {
		t.Error("two tokens share a jti")
	}
}

// TestTokenVerification checks every claim and header rule, with the
// leeway on either side of its bound.
func TestTokenVerification(t *testing.T) {
	k := newKeyring(t)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	ed := func(header, change map[string]any) string {
		h := map[string]any{"kid": k.ed.ID(), "typ": "at+jwt"}
		for name, v := range header {
			h[name] = v
		}
		return forge(t, jwt.SigningMethodEdDSA, k.priv, h, k.claims(change))
	}
	min := func(d time.Duration) int64 { return k.now.Add(d).Unix() }
	pub := []byte(k.priv.Public().(ed25519.PublicKey))
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", ed(nil, nil), true},
		{"retired HS256 key still verifies", forge(t, jwt.SigningMethodHS256, k.secret, map[string]any{"kid": k.hs.ID(), "typ": "at+jwt"}, k.claims(nil)), true},
		{"typ application/at+jwt", ed(map[string]any{"typ": "application/at+jwt"}, nil), true},
		{"expired within leeway", ed(nil, map[string]any{"exp": min(-20 * time.Second)}), true},
		{"expired past leeway", ed(nil, map[string]any{"exp": min(-40 * time.Second)}), false},
		{"iat ahead within leeway", ed(nil, map[string]any{"iat": min(20 * time.Second)}), true},
		{"iat ahead past leeway", ed(nil, map[string]any{"iat": min(2 * time.Minute)}), false},
		{"nbf in the future", ed(nil, map[string]any{"nbf": min(5 * time.Minute)}), false},
		{"wrong issuer", ed(nil, map[string]any{"iss": "someone"}), false},
		{"wrong audience", ed(nil, map[string]any{"aud": []string{"billing"}}), false},
		{"no audience", ed(nil, map[string]any{"aud": nil}), false},
		{"no issuer", ed(nil, map[string]any{"iss": nil}), false},
		{"no exp", ed(nil, map[string]any{"exp": nil}), false},
		{"no iat", ed(nil, map[string]any{"iat": nil}), false},
		{"no jti", ed(nil, map[string]any{"jti": nil}), false},
		{"no sub", ed(nil, map[string]any{"sub": nil}), false},
		{"no org_id", ed(nil, map[string]any{"org_id": nil}), false},
		{"no sid", ed(nil, map[string]any{"sid": nil}), false},
		{"no kid", ed(map[string]any{"kid": nil}, nil), false},
		{"unknown kid", ed(map[string]any{"kid": "nope"}, nil), false},
		{"typ JWT", ed(map[string]any{"typ": "JWT"}, nil), false},
		{"no typ", ed(map[string]any{"typ": nil}, nil), false},
		{"crit header", ed(map[string]any{"crit": []string{"exp"}}, nil), false},
		{"signed by another key under this kid", forge(t, jwt.SigningMethodEdDSA, otherPriv, map[string]any{"kid": k.ed.ID(), "typ": "at+jwt"}, k.claims(nil)), false},
		{"HS256 keyed with the public key (algorithm confusion)", forge(t, jwt.SigningMethodHS256, pub, map[string]any{"kid": k.ed.ID(), "typ": "at+jwt"}, k.claims(nil)), false},
		{"HS256 secret under the Ed25519 kid", forge(t, jwt.SigningMethodHS256, k.secret, map[string]any{"kid": k.ed.ID(), "typ": "at+jwt"}, k.claims(nil)), false},
		{"alg none", forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, map[string]any{"kid": k.ed.ID(), "typ": "at+jwt"}, k.claims(nil)), false},
		{"oversized", ed(nil, map[string]any{"pad": strings.Repeat("x", 5000)}), false},
		{"garbage", "a.b.c", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.tokens.Verify(tt.token)
			if tt.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("accepted (err %v)", err)
			}
		})
	}
}

// TestTokenConfig checks what New refuses.
func TestTokenConfig(t *testing.T) {
	k := newKeyring(t)
	pubOnly := auth.Ed25519PublicKey(k.priv.Public().(ed25519.PublicKey))
	for name, cfg := range map[string]auth.Config{
		"no keys":                  {TTL: time.Minute},
		"verify-only first":        {Keys: []auth.Key{pubOnly}, TTL: time.Minute},
		"no lifetime":              {Keys: []auth.Key{k.ed}},
		"leeway over five min":     {Keys: []auth.Key{k.ed}, TTL: time.Minute, Leeway: 10 * time.Minute},
		"one key configured twice": {Keys: []auth.Key{k.ed, pubOnly}, TTL: time.Minute},
	} {
		if _, err := auth.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestVerifiedTokenStillExpires checks that a token verified before is
// checked against the clock again, and that remembering it lets no altered
// copy through.
func TestVerifiedTokenStillExpires(t *testing.T) {
	k := newKeyring(t)
	tok, _, err := k.tokens.Issue("admin1", "org1", "sess1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if c, err := k.tokens.Verify(tok); err != nil || c.SessionID != "sess1" {
			t.Fatalf("verification %d: %+v, %v", i+1, c, err)
		}
	}
	head, sig, _ := strings.Cut(tok, ".")
	// A character well inside the signature, changed: one at its very end
	// may carry only padding bits, which decoding ignores.
	i := len(tok) - 10
	other := byte('A')
	if tok[i] == other {
		other = 'B'
	}
	altered := tok[:i] + string(other) + tok[i+1:]
	for _, bad := range []string{tok + "A", altered, head + ".e30." + sig} {
		if _, err := k.tokens.Verify(bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("an altered copy of a verified token: %v", err)
		}
	}
	start := k.now
	k.now = start.Add(-time.Minute) // a clock set back before the token was issued
	if _, err := k.tokens.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("before its issue time: %v", err)
	}
	k.now = start.Add(15*time.Minute + 29*time.Second) // within the leeway
	if _, err := k.tokens.Verify(tok); err != nil {
		t.Errorf("within the leeway: %v", err)
	}
	k.now = start.Add(15*time.Minute + 31*time.Second)
	if _, err := k.tokens.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired: %v", err)
	}
}

// TestLifetimeLowered checks that a token issued under a longer lifetime
// than the one configured now stops working when the new lifetime has run
// from its issue: a logout is remembered only for the lifetime configured
// when it happens, and the token must not outlast that record.
func TestLifetimeLowered(t *testing.T) {
	k := newKeyring(t)
	long, err := auth.New(auth.Config{Keys: []auth.Key{k.ed}, TTL: 24 * time.Hour, Leeway: 30 * time.Second, Now: func() time.Time { return k.now }})
	if err != nil {
		t.Fatal(err)
	}
	tok, c, err := long.Issue("admin1", "org1", "sess1")
	if err != nil || c.ExpiresAt.Sub(c.IssuedAt) != 24*time.Hour {
		t.Fatalf("issue: %+v, %v", c, err)
	}
	start := k.now
	for _, tt := range []struct {
		after time.Duration
		ok    bool
	}{
		{time.Minute, true},
		{15*time.Minute + 29*time.Second, true}, // the 15-minute lifetime, within the leeway
		{15*time.Minute + 31*time.Second, false},
		{time.Hour, false},
	} {
		k.now = start.Add(tt.after)
		if _, err := k.tokens.Verify(tok); (err == nil) != tt.ok {
			t.Errorf("%v after issue: %v, want valid %v", tt.after, err, tt.ok)
		}
	}
}
