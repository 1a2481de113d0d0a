package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/auth"
	"golang.org/x/net/idna"
)

// securitySettings are the settings of tokens, logins and the audit log.
func securitySettings() []setting {
	return []setting{
		{"ORGD_JWT_ALG", "jwt-alg", "HS256", "access token signing: HS256 (the shared secret) or EdDSA (the first of ORGD_JWT_KEYS)", func(v string, c *config) error {
			if v != auth.HS256 && v != auth.EdDSA {
				return errors.New("must be HS256 or EdDSA")
			}
			c.JWTAlg = v
			return nil
		}},
		{"ORGD_JWT_KEYS", "jwt-keys", "", "comma-separated Ed25519 PEM files; with EdDSA the first (a private key) signs, the others only verify", func(v string, c *config) error {
			c.JWTKeys = list(v)
			return nil
		}},
		{"ORGD_JWT_ISSUER", "jwt-issuer", auth.Issuer, `the "iss" of access tokens`, nonEmpty(func(c *config) *string { return &c.JWTIssuer })},
		{"ORGD_JWT_AUDIENCE", "jwt-audience", auth.Audience, `the "aud" of access tokens`, nonEmpty(func(c *config) *string { return &c.JWTAudience })},
		{"ORGD_JWT_LEEWAY", "jwt-leeway", "30s", "clock skew tolerated when checking exp, iat and nbf", duration(func(c *config) *time.Duration { return &c.JWTLeeway }, 0, 5*time.Minute)},
		{"ORGD_REFRESH_TTL", "refresh-ttl", "720h", "lifetime of a login: its refresh tokens are refused after it", duration(func(c *config) *time.Duration { return &c.RefreshTTL }, time.Minute, 8760*time.Hour)},
		{"ORGD_LOGIN_WINDOW", "login-window", "15m", "window in which failed logins are counted; a lockout ends by itself within it", duration(func(c *config) *time.Duration { return &c.LoginWindow }, time.Second, 24*time.Hour)},
		{"ORGD_LOGIN_ACCOUNT_LIMIT", "login-account-limit", strconv.Itoa(auth.DefaultAccountLimit), "failed logins per account, from any address, per window", integer(func(c *config) *int { return &c.LoginAccountLimit }, 1, 1000)},
		{"ORGD_LOGIN_ADDR_LIMIT", "login-addr-limit", strconv.Itoa(auth.DefaultAddrLimit), "failed logins per client address, for any account, per window", integer(func(c *config) *int { return &c.LoginAddrLimit }, 1, 100000)},
		{"ORGD_HASH_CONCURRENCY", "hash-concurrency", "0", "bcrypt hashes running at once; 0 means one per CPU", integer(func(c *config) *int { return &c.HashConcurrency }, 0, 1024)},
		{"ORGD_HASH_QUEUE", "hash-queue", "16", "bcrypt hashes waiting for a turn; past that the answer is 503", integer(func(c *config) *int { return &c.HashQueue }, 0, 100000)},
		{"ORGD_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated addresses or CIDRs of proxies whose X-Forwarded-For and X-Request-Id are believed; unix: every peer on a unix: listen address", func(v string, c *config) error {
			c.TrustedProxies, c.TrustUnixPeers = nil, false
			for _, s := range list(v) {
				if s == "unix" {
					c.TrustUnixPeers = true
					continue
				}
				p, err := netip.ParsePrefix(s)
				if err != nil {
					a, aerr := netip.ParseAddr(s)
					if aerr != nil {
						return fmt.Errorf("%q is not an address or CIDR", s)
					}
					p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		}},
		{"ORGD_CORS_ORIGINS", "cors-origins", "", "comma-separated browser origins allowed to call the API; empty: CORS off", func(v string, c *config) error {
			c.CORSOrigins = nil
			for _, o := range list(v) {
				origin, err := webOrigin(o)
				if err != nil {
					return err
				}
				c.CORSOrigins = append(c.CORSOrigins, origin)
			}
			return nil
		}},
		{"ORGD_AUDIT_RETENTION", "audit-retention", "2160h", "how long a deleted organization's audit events, and events of no organization, are kept", duration(func(c *config) *time.Duration { return &c.AuditRetention }, time.Hour, 87600*time.Hour)},
		{"ORGD_PRUNE_INTERVAL", "prune-interval", "10m", "how often expired sessions, revocations and audit events are deleted", duration(func(c *config) *time.Duration { return &c.PruneInterval }, time.Second, 24*time.Hour)},
	}
}

// webOrigin is o as a browser sends it in Origin (RFC 6454): scheme and host
// in lower case, an international name in its ASCII form (xn--), an IP
// address in its shortest form, no default port, no path; it is compared
// byte for byte, so what could never match is refused.
func webOrigin(o string) (string, error) {
	bad := fmt.Errorf("%q is not an origin such as https://app.example.com (no wildcard, no path)", o)
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", bad
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() == "" {
		host = ip.String()
		if ip.Is6() {
			host = "[" + host + "]"
		}
	} else if host, err = idna.Lookup.ToASCII(host); err != nil || host == "" ||
		strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "" {
		return "", bad
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", bad
		}
		if n != map[string]int{"http": 80, "https": 443}[u.Scheme] {
			host += ":" + strconv.Itoa(n)
		}
	}
	return u.Scheme + "://" + host, nil
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func integer(dst func(*config) *int, min, max int) func(string, *config) error {
	return func(v string, c *config) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("must be an integer from %d to %d", min, max)
		}
		*dst(c) = n
		return nil
	}
}

func nonEmpty(dst func(*config) *string) func(string, *config) error {
	return func(v string, c *config) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		*dst(c) = v
		return nil
	}
}

// newTokens builds the token signer and verifier: the signing key first, then
// every other configured key, which only verifies.
func newTokens(cfg config, logger *slog.Logger) (*auth.Tokens, error) {
	var eds []auth.Key
	for _, path := range cfg.JWTKeys {
		b, err := readSecretFile(path, "ORGD_JWT_KEYS")
		if err != nil {
			return nil, err
		}
		k, err := auth.ParseKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("ORGD_JWT_KEYS: %s: %w", path, err)
		}
		eds = append(eds, k)
	}
	secrets, err := jwtSecrets(cfg, logger, cfg.JWTAlg == auth.HS256)
	if err != nil {
		return nil, err
	}
	var hs []auth.Key
	for _, s := range secrets {
		k, err := auth.SecretKey(s)
		if err != nil {
			return nil, err
		}
		hs = append(hs, k)
	}
	keys := slices.Concat(hs, eds)
	if cfg.JWTAlg == auth.EdDSA {
		if !eds[0].CanSign() {
			return nil, fmt.Errorf("ORGD_JWT_KEYS: the first key, %s, must be a private key: it signs", cfg.JWTKeys[0])
		}
		keys = slices.Concat(eds, hs)
	}
	return auth.New(auth.Config{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		TTL: cfg.TokenTTL, Leeway: cfg.JWTLeeway, Now: time.Now})
}

// newPasswords bounds bcrypt work as configured: by default one hash at a
// time per CPU the process may use (GOMAXPROCS, which follows a container's
// CPU quota where NumCPU would not).
func newPasswords(cfg config) (*auth.Passwords, *auth.Gate, error) {
	running := cfg.HashConcurrency
	if running == 0 {
		running = runtime.GOMAXPROCS(0)
	}
	gate := auth.NewGate(running, cfg.HashQueue, time.Now)
	p, err := auth.NewLimitedPasswords(cfg.BcryptCost, gate)
	return p, gate, err
}

// apiSecurity gathers the API's protections.
func apiSecurity(cfg config) (api.Security, api.Throttle) {
	throttle := auth.NewThrottle(auth.ThrottleConfig{Window: cfg.LoginWindow, AccountLimit: cfg.LoginAccountLimit,
		AddrLimit: cfg.LoginAddrLimit, Now: time.Now})
	return api.Security{RefreshTTL: cfg.RefreshTTL, CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies, TrustUnixPeers: cfg.TrustUnixPeers}, throttle
}
