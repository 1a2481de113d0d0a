package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

// writeKey writes a new Ed25519 key to dir/name in PEM: the private key, or
// only its public half; it returns the key id.
func writeKey(t *testing.T, dir, name string, public bool) string {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, typ := []byte(nil), "PRIVATE KEY"
	var err error
	if public {
		der, err = x509.MarshalPKIXPublicKey(pub)
		typ = "PUBLIC KEY"
	} else {
		der, err = x509.MarshalPKCS8PrivateKey(priv)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return auth.Ed25519PublicKey(pub).ID()
}

// TestEdDSAStartup runs orgd signing with Ed25519: it publishes both
// configured keys, signs with the first, and generates no HS256 secret.
func TestEdDSAStartup(t *testing.T) {
	dir := t.TempDir()
	keys := t.TempDir()
	signing := writeKey(t, keys, "new.pem", false)
	retired := writeKey(t, keys, "old.pub.pem", true)
	env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": dir,
		"ORGD_BCRYPT_COST": "4", "ORGD_JWT_ALG": "EdDSA",
		"ORGD_JWT_KEYS": filepath.Join(keys, "new.pem") + "," + filepath.Join(keys, "old.pub.pem")}
	base, stop := start(t, env)
	defer stop()
	res, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []struct{ Kid string } }
	_ = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if len(set.Keys) != 2 || set.Keys[0].Kid != signing || set.Keys[1].Kid != retired {
		t.Errorf("JWKS %+v, want [%s %s]", set, signing, retired)
	}
	if s := post(t, base+"/org/create", `{"organization_name":"acme","email":"a@acme.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	res, err = http.Post(base+"/admin/login", "application/json", strings.NewReader(`{"email":"a@acme.test","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	logs.Secret("access token", tok.AccessToken)
	header, _, _ := strings.Cut(tok.AccessToken, ".")
	if !strings.HasPrefix(header, "eyJ") || res.StatusCode != 200 {
		t.Fatalf("login: %d", res.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, secretFileName)); err == nil {
		t.Error("an HS256 secret was generated although EdDSA signs")
	}
}

// TestSecretRotation checks the HS256 rotation: the first line of the secret
// file signs, later lines still verify.
func TestSecretRotation(t *testing.T) {
	dir := t.TempDir()
	oldSecret, newSecret := strings.Repeat("o", 32), strings.Repeat("n", 32)
	path := filepath.Join(dir, "secrets")
	if err := os.WriteFile(path, []byte(newSecret+"\n"+oldSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs.Secret("JWT secret", oldSecret)
	logs.Secret("JWT secret", newSecret)
	cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), nil, func(k string) string {
		return map[string]string{"ORGD_JWT_SECRET_FILE": path, "MONGODB_URI": "mongodb://127.0.0.1:1"}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := newTokens(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := auth.NewTokens([]byte(oldSecret), time.Minute, time.Now)
	oldTok, _, _ := old.Issue("a", "o", "s")
	if _, err := tokens.Verify(oldTok); err != nil {
		t.Errorf("a token of the previous secret is refused: %v", err)
	}
	_, c, _ := tokens.Issue("a", "o", "s")
	if k, _ := auth.SecretKey([]byte(newSecret)); c.KeyID != k.ID() {
		t.Error("the first secret of the file does not sign")
	}
	if string(tokens.JWKS()) != `{"keys":[]}` {
		t.Errorf("secrets published: %s", tokens.JWKS())
	}
}

// TestSecurityConfig checks the defaults of the security settings and what
// they refuse, naming the setting.
func TestSecurityConfig(t *testing.T) {
	cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWTAlg != "HS256" || cfg.JWTLeeway != 30*time.Second || cfg.RefreshTTL != 30*24*time.Hour || cfg.LoginWindow != 15*time.Minute ||
		cfg.LoginAccountLimit != 10 || cfg.LoginAddrLimit != 30 || cfg.HashQueue != 16 || cfg.AuditRetention != 90*24*time.Hour ||
		cfg.JWTIssuer != "orgd" || cfg.JWTAudience != "orgd" || len(cfg.CORSOrigins) != 0 || len(cfg.TrustedProxies) != 0 {
		t.Errorf("defaults %+v", cfg)
	}
	cfg, err = loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-trusted-proxies", "10.0.0.0/8, 192.0.2.1", "-cors-origins", "https://app.example.com"}, func(string) string { return "" }, io.Discard)
	if err != nil || len(cfg.TrustedProxies) != 2 || cfg.TrustedProxies[1].String() != "192.0.2.1/32" || cfg.CORSOrigins[0] != "https://app.example.com" {
		t.Errorf("lists: %+v, %v", cfg, err)
	}
	cfg, err = loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-trusted-proxies", "unix, 10.0.0.0/8"}, func(string) string { return "" }, io.Discard)
	if err != nil || !cfg.TrustUnixPeers || len(cfg.TrustedProxies) != 1 {
		t.Errorf("unix among the trusted proxies: %+v, %v", cfg, err)
	}
	// Origins are kept as browsers send them, so that a match is exact.
	cfg, err = loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-cors-origins",
		"HTTPS://App.Example.com:443/, http://localhost:3000, http://x.test:80, https://[2001:DB8::1]:8443, " +
			"https://bücher.example, https://app.example.com:08443, https://[2001:db8:0:0:0:0:0:1], http://127.0.0.1:0080"}, func(string) string { return "" }, io.Discard)
	if want := []string{"https://app.example.com", "http://localhost:3000", "http://x.test", "https://[2001:db8::1]:8443",
		"https://xn--bcher-kva.example", "https://app.example.com:8443", "https://[2001:db8::1]", "http://127.0.0.1"}; err != nil || !slices.Equal(cfg.CORSOrigins, want) {
		t.Errorf("origins %q, %v; want %q", cfg.CORSOrigins, err, want)
	}
	for _, bad := range []string{"https://app.example.com/app", "app.example.com", "https://app.example.com?x", "https://u@app.example.com",
		"https://*.example.com", "https://app.example.com:99999", "https://app.example.com:0", "https://a b.example"} {
		if _, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-cors-origins", bad}, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
	keys := t.TempDir()
	writeKey(t, keys, "pub.pem", true)
	for env, v := range map[string]string{
		"ORGD_JWT_ALG":             "RS256",
		"ORGD_JWT_LEEWAY":          "10m",
		"ORGD_REFRESH_TTL":         "30s",
		"ORGD_LOGIN_ACCOUNT_LIMIT": "0",
		"ORGD_HASH_QUEUE":          "-1",
		"ORGD_TRUSTED_PROXIES":     "10.0.0.0/33",
		"ORGD_CORS_ORIGINS":        "*",
		"ORGD_JWT_AUDIENCE":        " ",
	} {
		_, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), nil, func(k string) string { return map[string]string{env: v}[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), env) || strings.Contains(err.Error(), "e.g. "+v) {
			t.Errorf("%s=%q: %v", env, v, err) // nor may it suggest the value it refused
		}
	}
	for name, env := range map[string]map[string]string{
		"EdDSA without keys":   {"ORGD_JWT_ALG": "EdDSA"},
		"missing key file":     {"ORGD_JWT_ALG": "EdDSA", "ORGD_JWT_KEYS": filepath.Join(keys, "nope.pem")},
		"public key signing":   {"ORGD_JWT_ALG": "EdDSA", "ORGD_JWT_KEYS": filepath.Join(keys, "pub.pem")},
		"short rotated secret": {"ORGD_JWT_SECRET_FILE": writeFile(t, strings.Repeat("n", 32)+"\nshort\n")},
		"empty secret file":    {"ORGD_JWT_SECRET_FILE": writeFile(t, "\n\n")},
	} {
		env["MONGODB_URI"] = "mongodb://127.0.0.1:1"
		cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), nil, func(k string) string { return env[k] }, io.Discard)
		if err == nil {
			_, err = newTokens(cfg, slog.New(slog.DiscardHandler))
		}
		if err == nil || !strings.Contains(err.Error(), "ORGD_JWT_") || strings.Contains(err.Error(), "nnnn") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWriteNew checks how a generated secret is written: whole, readable by
// its owner only, never over an existing file, and with nothing left beside it.
func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwt-secret")
	if err := writeNew(path, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(path, []byte("second\n")); err == nil {
		t.Error("an existing secret was written over")
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "first\n" {
		t.Errorf("secret %q, %v", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file %v, %v; want mode 0600", fi, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files, want the secret alone", len(entries))
	}
}

// TestEmptyGeneratedSecret starts orgd on a data directory whose generated
// secret a crash left empty: no token was signed with it, so orgd makes a
// new one instead of refusing to start.
func TestEmptyGeneratedSecret(t *testing.T) {
	for _, left := range []string{"", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "jwt-secret"), []byte(left), 0o600); err != nil {
			t.Fatal(err)
		}
		secrets, err := jwtSecrets(config{DataDir: dir}, slog.New(slog.DiscardHandler), true)
		if err != nil || len(secrets) != 1 || bytes.IndexByte(secrets[0], 0) >= 0 {
			t.Fatalf("left %q: secrets %q, %v; want a new one", left, secrets, err)
		}
	}
}
