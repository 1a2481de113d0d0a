package main

import (
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

// TestBenchTokensOutlastTheRun checks that a token the bench mints before it
// seeds still passes on the server it starts hours later, at the end of a
// run at 10,000 organizations: the server caps every token at the lifetime
// configured on it.
func TestBenchTokensOutlastTheRun(t *testing.T) {
	secret := strings.Repeat("s", 32)
	env := map[string]string{}
	for _, kv := range benchServerEnv(256, "unix:"+filepath.Join(t.TempDir(), "api.sock"), "", t.TempDir(), secret, 12, "orgd_master", "orgd_tenants") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("the bench's server configuration: %v", err)
	}
	start := time.Now()
	minted, err := auth.NewTokens([]byte(secret), benchTokenTTL, func() time.Time { return start })
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := minted.Issue("admin", "org", "bench-session")
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.SecretKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{time.Minute, 20 * time.Minute, 3 * time.Hour} {
		server, err := auth.New(auth.Config{Keys: []auth.Key{key}, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
			TTL: cfg.TokenTTL, Leeway: cfg.JWTLeeway, Now: func() time.Time { return start.Add(after) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.Verify(tok); err != nil {
			t.Errorf("a token minted %v before is refused: %v", after, err)
		}
	}
}
