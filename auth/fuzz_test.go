package auth_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

// fuzzKeys are fixed, so that the committed corpus (testdata/fuzz) holds
// tokens that verify: an Ed25519 key that signs and an HS256 secret that
// verifies, at a fixed time.
func fuzzKeys(t testing.TB) (*auth.Tokens, ed25519.PublicKey, []byte) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	secret := []byte(strings.Repeat("fuzz-secret-", 3))
	hs, err := auth.SecretKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tk, err := auth.New(auth.Config{Keys: []auth.Key{auth.Ed25519Key(priv), hs}, TTL: time.Hour, Leeway: 30 * time.Second,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return tk, priv.Public().(ed25519.PublicKey), secret
}

// FuzzVerify feeds arbitrary strings to token verification: it must never
// panic, and whatever it accepts must carry a signature that the raw
// primitives confirm over its exact bytes, by the key its kid names.
func FuzzVerify(f *testing.F) {
	tk, pub, secret := fuzzKeys(f)
	good, _, err := tk.Issue("admin1", "org1", "sess1")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Repeat(".", 10))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := tk.Verify(token)
		if err != nil {
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 || c.AdminID == "" || c.OrgID == "" || c.SessionID == "" || c.ID == "" {
			t.Fatalf("accepted %q with claims %+v", token, c)
		}
		raw, err1 := base64.RawURLEncoding.Strict().DecodeString(parts[0])
		sig, err2 := base64.RawURLEncoding.Strict().DecodeString(parts[2])
		var h struct{ Alg, Kid string }
		if err1 != nil || err2 != nil || json.Unmarshal(raw, &h) != nil {
			t.Fatalf("accepted %q with a malformed header or signature", token)
		}
		signed := []byte(parts[0] + "." + parts[1])
		switch h.Alg {
		case auth.EdDSA:
			if !ed25519.Verify(pub, signed, sig) || h.Kid != auth.Ed25519PublicKey(pub).ID() {
				t.Fatalf("accepted %q without a valid Ed25519 signature", token)
			}
		case auth.HS256:
			m := hmac.New(sha256.New, secret)
			m.Write(signed)
			if k, _ := auth.SecretKey(secret); !hmac.Equal(m.Sum(nil), sig) || h.Kid != k.ID() {
				t.Fatalf("accepted %q without a valid HMAC", token)
			}
		default:
			t.Fatalf("accepted %q with alg %q", token, h.Alg)
		}
	})
}

// FuzzRefreshTokenHash checks that only strings shaped like orgd's refresh
// tokens are hashed, and that the hash is stable and never the token.
func FuzzRefreshTokenHash(f *testing.F) {
	tok, _, _ := auth.NewRefreshToken()
	f.Add(tok)
	f.Add(auth.RefreshPrefix)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := auth.RefreshTokenHash(s)
		if !ok {
			if h != "" {
				t.Fatalf("refused %q but returned a hash", s)
			}
			return
		}
		again, _ := auth.RefreshTokenHash(s)
		if len(h) != 64 || again != h || strings.Contains(h, s) || !strings.HasPrefix(s, auth.RefreshPrefix) || len(s) != len(tok) {
			t.Fatalf("RefreshTokenHash(%q) = %q", s, h)
		}
	})
}
