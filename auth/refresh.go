package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// RefreshPrefix starts every refresh token, so that secret scanners and
// people recognize one.
const RefreshPrefix = "orgd_rt_"

// refreshLen is the length of a refresh token: the prefix and 32 random bytes in base64url.
var refreshLen = len(RefreshPrefix) + base64.RawURLEncoding.EncodedLen(32)

// NewRefreshToken returns a new opaque refresh token (256 random bits) and
// the hash under which it is stored; the token itself is never stored.
func NewRefreshToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = RefreshPrefix + b64(b)
	return token, hashRefresh(token), nil
}

// RefreshTokenHash returns the storage hash of token, and false when token
// is not shaped like a refresh token orgd issued. A plain SHA-256 suffices:
// the token is 256 random bits, so no guessing can invert it.
func RefreshTokenHash(token string) (string, bool) {
	if len(token) != refreshLen || !strings.HasPrefix(token, RefreshPrefix) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token[len(RefreshPrefix):])
	if err != nil || len(raw) != 32 {
		return "", false
	}
	return hashRefresh(token), true
}

func hashRefresh(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
