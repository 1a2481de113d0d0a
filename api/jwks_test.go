package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"github.com/orgd/orgd/mongotest"
)

// withKeys makes the server sign with keys[0] and verify with all of keys.
func withKeys(t *testing.T, keys ...auth.Key) func(*api.Deps) {
	return func(d *api.Deps) {
		tk, err := auth.New(auth.Config{Keys: keys, TTL: 15 * time.Minute, Leeway: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		d.Tokens = tk
	}
}

// verifyWithJWKS checks token the way another service would: with go-jose,
// a JOSE library orgd does not use, and only the keys of the served JWKS.
func verifyWithJWKS(t *testing.T, e *env, token string) (josejwt.Claims, error) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(e.call("GET", "/.well-known/jwks.json", "", nil).mustStatus(t, 200).Raw), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return josejwt.Claims{}, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return josejwt.Claims{}, errNoKey
	}
	var claims josejwt.Claims
	var extra struct {
		OrgID string `json:"org_id"`
		SID   string `json:"sid"`
	}
	if err := tok.Claims(keys[0].Key, &claims, &extra); err != nil {
		return claims, err
	}
	if extra.OrgID == "" || extra.SID == "" || claims.ID == "" || claims.IssuedAt == nil {
		t.Errorf("claims %+v %+v", claims, extra)
	}
	return claims, claims.ValidateWithLeeway(josejwt.Expected{Issuer: "orgd", AnyAudience: josejwt.Audience{"orgd"}, Time: time.Now()}, 0)
}

type jwksError string

func (e jwksError) Error() string { return string(e) }

const errNoKey = jwksError("no key in the JWKS for the token's kid")

// TestJWKSRotation checks Ed25519 tokens against the served JWKS with an
// independent verifier, through a key rotation: A signs; then B signs while A
// only verifies, so that A's tokens stay valid and both keys are published;
// then A is gone and its tokens are refused.
func TestJWKSRotation(t *testing.T) {
	_, privA, _ := ed25519.GenerateKey(rand.Reader)
	_, privB, _ := ed25519.GenerateKey(rand.Reader)
	a, b := auth.Ed25519Key(privA), auth.Ed25519Key(privB)
	aPublic := auth.Ed25519PublicKey(privA.Public().(ed25519.PublicKey))
	db := mongotest.New(t)
	before := newEnvOn(t, db, db.Client, 0, withKeys(t, a))
	during := newEnvOn(t, db, db.Client, 0, withKeys(t, b, aPublic))
	after := newEnvOn(t, db, db.Client, 0, withKeys(t, b))

	before.create(acme).mustStatus(t, 201)
	oldTok := before.login(acme.email, acme.password)
	claims, err := verifyWithJWKS(t, before, oldTok)
	if err != nil {
		t.Fatalf("A's token does not verify with the JWKS: %v", err)
	}
	if claims.Subject == "" || claims.Expiry == nil {
		t.Errorf("claims %+v", claims)
	}

	newTok := during.login(acme.email, acme.password)
	for name, tok := range map[string]string{"A's token": oldTok, "B's token": newTok} {
		if _, err := verifyWithJWKS(t, during, tok); err != nil {
			t.Errorf("%s with the JWKS during the rotation: %v", name, err)
		}
		r := during.call("GET", "/org/get?organization_name=acme", tok, nil).mustStatus(t, 200)
		if r.JSON["admin_email"] == nil {
			t.Errorf("%s was not recognized as the admin's", name)
		}
	}
	if _, err := verifyWithJWKS(t, before, newTok); err != errNoKey {
		t.Errorf("B's token against the JWKS before the rotation: %v", err)
	}

	after.call("GET", "/org/get?organization_name=acme", oldTok, nil).isProblem(t, 401)
	after.call("GET", "/org/get?organization_name=acme", newTok, nil).mustStatus(t, 200)
	if _, err := verifyWithJWKS(t, after, oldTok); err != errNoKey {
		t.Errorf("A's token against the JWKS after the rotation: %v", err)
	}
	// A tampered token fails the independent verifier too.
	if _, err := verifyWithJWKS(t, during, newTok[:len(newTok)-4]+"AAAA"); err == nil {
		t.Error("a tampered token verified")
	}
}
