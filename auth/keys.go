package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
)

// Signing algorithms orgd supports.
const (
	HS256 = "HS256" // HMAC-SHA256 with a shared secret: only holders of the secret can verify
	EdDSA = "EdDSA" // Ed25519: anyone can verify with the public key served as a JWKS
)

// MinSecretLen is the shortest HS256 secret accepted (256 bits, RFC 7518 3.2).
const MinSecretLen = 32

// Key is one JWT key: an HS256 secret, an Ed25519 private key, or an Ed25519
// public key that only verifies (a retired key whose tokens may still be live).
// Its id, the token header's "kid", is derived from the key itself, so every
// instance configured with the same key agrees on it.
type Key struct {
	id     string
	alg    string
	secret []byte
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
}

// ID is the key id carried by tokens as "kid".
func (k Key) ID() string { return k.id }

// Alg is the only algorithm this key is used with.
func (k Key) Alg() string { return k.alg }

// CanSign reports whether the key holds what signing needs.
func (k Key) CanSign() bool { return k.secret != nil || k.priv != nil }

// SecretKey returns an HS256 key. Its id is an HMAC of a constant under the
// secret, so it tells nothing about the secret.
func SecretKey(secret []byte) (Key, error) {
	if len(secret) < MinSecretLen {
		return Key{}, fmt.Errorf("JWT secret must be at least %d bytes", MinSecretLen)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("orgd key id"))
	return Key{id: "hs-" + b64(m.Sum(nil)[:12]), alg: HS256, secret: append([]byte(nil), secret...)}, nil
}

// Ed25519Key returns a signing key; its id is the RFC 7638 thumbprint of its public key.
func Ed25519Key(priv ed25519.PrivateKey) Key {
	k := Ed25519PublicKey(priv.Public().(ed25519.PublicKey))
	k.priv = priv
	return k
}

// Ed25519PublicKey returns a key that only verifies.
func Ed25519PublicKey(pub ed25519.PublicKey) Key {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`))
	return Key{id: b64(sum[:]), alg: EdDSA, pub: pub}
}

// ParseKeyPEM reads an Ed25519 key in PEM: a PKCS #8 "PRIVATE KEY" (as made by
// `openssl genpkey -algorithm ed25519`) signs and verifies, a PKIX "PUBLIC KEY"
// (`openssl pkey -pubout`) only verifies.
func ParseKeyPEM(data []byte) (Key, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return Key{}, errors.New("no PEM block found")
	}
	if b, _ := pem.Decode(rest); b != nil {
		return Key{}, errors.New("more than one PEM block: put one key in each file")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("parse PKCS #8 private key: %w", err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return Key{}, fmt.Errorf("private key is %T, want Ed25519", k)
		}
		return Ed25519Key(priv), nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return Key{}, fmt.Errorf("parse public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return Key{}, fmt.Errorf("public key is %T, want Ed25519", k)
		}
		return Ed25519PublicKey(pub), nil
	}
	return Key{}, fmt.Errorf("PEM block %q: want PRIVATE KEY or PUBLIC KEY", block.Type)
}

// jwk is a public key as RFC 8037 writes it in a JWK Set.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// jwks returns the JWK Set of the public keys among keys; HS256 secrets are never published.
func jwks(keys []Key) []byte {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		if k.pub != nil {
			set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: b64(k.pub), Kid: k.id, Alg: EdDSA, Use: "sig"})
		}
	}
	b, _ := json.Marshal(set) // cannot fail: strings only
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
