package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// TestParseKeyPEM checks the key files orgd accepts and refuses.
func TestParseKeyPEM(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, err1 := x509.MarshalPKCS8PrivateKey(priv)
	pubDER, err2 := x509.MarshalPKIXPublicKey(pub)
	ecDER, err3 := x509.MarshalPKCS8PrivateKey(ec)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	privPEM, pubPEM, ecPEM := pemOf("PRIVATE KEY", privDER), pemOf("PUBLIC KEY", pubDER), pemOf("PRIVATE KEY", ecDER)

	k, err := auth.ParseKeyPEM(privPEM)
	if err != nil || !k.CanSign() || k.Alg() != auth.EdDSA {
		t.Fatalf("private key: %+v, %v", k, err)
	}
	p, err := auth.ParseKeyPEM(pubPEM)
	if err != nil || p.CanSign() || p.ID() != k.ID() {
		t.Fatalf("public key: can sign %v, id %q vs %q, %v", p.CanSign(), p.ID(), k.ID(), err)
	}
	for name, data := range map[string][]byte{
		"not PEM":        []byte("hello"),
		"P-256 key":      ecPEM,
		"two keys":       append(append([]byte{}, privPEM...), pubPEM...),
		"certificate":    pemOf("CERTIFICATE", []byte{1, 2, 3}),
		"corrupt PKCS#8": pemOf("PRIVATE KEY", []byte{1, 2, 3}),
	} {
		if _, err := auth.ParseKeyPEM(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An HS256 key id reveals nothing of the secret and differs per secret.
	a, _ := auth.SecretKey([]byte(strings.Repeat("a", 32)))
	b, _ := auth.SecretKey([]byte(strings.Repeat("b", 32)))
	if a.ID() == b.ID() || strings.Contains(a.ID(), "aaaa") {
		t.Errorf("secret key ids %q %q", a.ID(), b.ID())
	}
	if _, err := auth.SecretKey([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}

// TestKeyRotation walks the documented rotation: key A signs; B is added
// and signs while A only verifies, so A's tokens stay valid until they
// expire; then A is removed and its tokens are refused.
func TestKeyRotation(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	_, privA, _ := ed25519.GenerateKey(rand.Reader)
	_, privB, _ := ed25519.GenerateKey(rand.Reader)
	a, b := auth.Ed25519Key(privA), auth.Ed25519Key(privB)
	aPub := auth.Ed25519PublicKey(privA.Public().(ed25519.PublicKey))
	cfg := func(keys ...auth.Key) *auth.Tokens {
		tk, err := auth.New(auth.Config{Keys: keys, TTL: 15 * time.Minute, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	before := cfg(a)
	oldTok, _, _ := before.Issue("admin1", "org1", "s1")

	during := cfg(b, aPub) // B signs, A (its public half only) verifies
	newTok, c, _ := during.Issue("admin1", "org1", "s2")
	if c.KeyID != b.ID() {
		t.Errorf("signed with %s, want B %s", c.KeyID, b.ID())
	}
	for name, tok := range map[string]string{"A's token": oldTok, "B's token": newTok} {
		if _, err := during.Verify(tok); err != nil {
			t.Errorf("%s refused during the rotation: %v", name, err)
		}
	}
	if kids := jwksKids(t, during.JWKS()); len(kids) != 2 || kids[0] != b.ID() || kids[1] != a.ID() {
		t.Errorf("JWKS kids %v, want [B A]", kids)
	}
	if _, err := before.Verify(newTok); err == nil {
		t.Error("an instance not yet told of B accepted B's token") // why B goes into the JWKS before it signs
	}

	after := cfg(b)
	if _, err := after.Verify(oldTok); err == nil {
		t.Error("A's token accepted after A was removed")
	}
	if _, err := after.Verify(newTok); err != nil {
		t.Errorf("B's token refused after the rotation: %v", err)
	}
	hsOnly, _ := auth.NewTokens([]byte(strings.Repeat("s", 32)), time.Minute, clock)
	if kids := jwksKids(t, hsOnly.JWKS()); len(kids) != 0 {
		t.Errorf("an HS256 secret was published: %v", kids)
	}
}

func jwksKids(t *testing.T, b []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct{ Kid, Kty, Crv, X, Alg, Use, D, K string }
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" || k.X == "" || k.D != "" || k.K != "" {
			t.Errorf("JWK %+v", k)
		}
		kids = append(kids, k.Kid)
	}
	return kids
}
