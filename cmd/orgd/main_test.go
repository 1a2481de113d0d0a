package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/internal/leakcheck"
	"github.com/orgd/orgd/mongotest"
)

// logs receives the log output of every orgd this package's tests run;
// TestMain fails the run if it holds a secret the tests used.
var logs = leakcheck.New()

func TestMain(m *testing.M) {
	for _, s := range []string{"correct horse", strings.Repeat("s", 32), strings.Repeat("k", 32)} {
		logs.Secret("password or JWT secret", s)
	}
	os.Exit(logs.Check(mongotest.Main(m)))
}

// start runs orgd as main does, with env as its environment, and returns the
// API's base URL once /healthz answers, and a function that stops it and
// returns run's error.
func start(t *testing.T, env map[string]string) (string, func() error) {
	t.Helper()
	banner, stop := startBanner(t, env, logs)
	return banner["API"], stop
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("/healthz did not answer 200 within 10 s")
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestEmbeddedRun boots orgd on its embedded database, creates an
// organization, stops, starts again on the same data and finds it there.
func TestEmbeddedRun(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": dir, "ORGD_BCRYPT_COST": "4"}
	base, stop := start(t, env)
	if s := post(t, base+"/org/create", `{"organization_name":"acme","email":"a@acme.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	res, err := http.Get(base + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}
	res.Body.Close()
	if err := stop(); err != nil {
		t.Fatalf("run returned %v after shutdown, want nil", err)
	}

	fi, err := os.Stat(filepath.Join(dir, secretFileName))
	if err != nil {
		t.Fatalf("generated secret: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	secret, _ := os.ReadFile(filepath.Join(dir, secretFileName))
	logs.Secret("generated JWT secret", strings.TrimSpace(string(secret)))

	base, stop = start(t, env)
	defer stop()
	if s := post(t, base+"/admin/login", `{"email":"a@acme.test","password":"correct horse"}`); s != 200 {
		t.Fatalf("login after restart: %d", s)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, secretFileName)); string(again) != string(secret) {
		t.Error("the generated secret changed across restarts")
	}
}

// TestEmbeddedSocket checks the default: without ORGD_EMBEDDED_ADDR the
// embedded database listens on a Unix socket in the data directory that only
// its owner can use, where a tool such as orgd doctor finds the running
// server's database; and once the server has stopped, the tool opens the
// directory itself.
func TestEmbeddedSocket(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": dir, "ORGD_BCRYPT_COST": "4"}
	doctor := func() string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), []string{"orgd", "doctor"}, func(k string) string { return env[k] }, &out, logs); err != nil {
			t.Fatalf("doctor: %v\n%s", err, out.String())
		}
		return out.String()
	}
	base, stop := start(t, env)
	// Before its first organization, a running orgd's directory is orgd's.
	if out := doctor(); !strings.Contains(out, "Using the running orgd's embedded database") || !strings.Contains(out, "No problems found") {
		t.Errorf("doctor while a new orgd runs:\n%s", out)
	}
	if s := post(t, base+"/org/create", `{"organization_name":"acme","email":"a@acme.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	fi, err := os.Stat(filepath.Join(dir, "socket", "mongodb.sock"))
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket: %v, %v; want a socket with mode 0600", fi, err)
	}
	if di, err := os.Stat(filepath.Join(dir, "socket")); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, %v; want mode 0700", di, err)
	}
	if out := doctor(); !strings.Contains(out, "Using the running orgd's embedded database at mongodb://%2F") || !strings.Contains(out, "No problems found") {
		t.Errorf("doctor while orgd runs:\n%s", out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out := doctor(); !strings.Contains(out, "Opened the embedded database in") || !strings.Contains(out, "No problems found") {
		t.Errorf("doctor after orgd stopped:\n%s", out)
	}
}

// TestExternalDatabase runs orgd against MONGODB_URI (here the test server).
func TestExternalDatabase(t *testing.T) {
	db := mongotest.New(t)
	env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "MONGODB_URI": db.URI, "ORGD_MASTER_DB": db.MasterDB,
		"ORGD_TENANT_DB": db.TenantDB, "ORGD_JWT_SECRET": strings.Repeat("s", 32), "ORGD_BCRYPT_COST": "4",
		"ORGD_DATA_DIR": filepath.Join(t.TempDir(), "unused")}
	base, stop := start(t, env)
	defer stop()
	if s := post(t, base+"/org/create", `{"organization_name":"acme","email":"a@acme.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	if _, err := os.Stat(env["ORGD_DATA_DIR"]); err == nil {
		t.Error("an embedded database was started although MONGODB_URI is set")
	}
}

// TestStartupErrors checks that bad configuration stops startup with a
// message naming the setting.
func TestStartupErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	base := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": dir}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad ttl", map[string]string{"ORGD_TOKEN_TTL": "soon"}, nil, "ORGD_TOKEN_TTL"},
		{"bad cost", map[string]string{"ORGD_BCRYPT_COST": "99"}, nil, "ORGD_BCRYPT_COST"},
		{"cost that takes minutes", map[string]string{"ORGD_BCRYPT_COST": "20"}, nil, "ORGD_BCRYPT_COST"},
		{"cache sync in a hot loop", map[string]string{"ORGD_CACHE_SYNC": "1ms"}, nil, "ORGD_CACHE_SYNC"},
		{"bad level", map[string]string{"ORGD_LOG_LEVEL": "loud"}, nil, "ORGD_LOG_LEVEL"},
		{"bad addr", map[string]string{"ORGD_ADDR": "8080"}, nil, "ORGD_ADDR"},
		{"bad db name", map[string]string{"ORGD_MASTER_DB": "a.b"}, nil, "ORGD_MASTER_DB"},
		{"too many tenant dbs", map[string]string{"ORGD_TENANT_DBS": "1001"}, nil, "ORGD_TENANT_DBS"},
		{"negative heap floor", map[string]string{"ORGD_HEAP_FLOOR_MIB": "-1"}, nil, "ORGD_HEAP_FLOOR_MIB"},
		{"heap floor meant in KiB", map[string]string{"ORGD_HEAP_FLOOR_MIB": "65536"}, nil, "ORGD_HEAP_FLOOR_MIB"},
		{"data dir the database cannot name", map[string]string{"ORGD_DATA_DIR": filepath.Join(dir, "a%b")}, nil, "ORGD_DATA_DIR (-data-dir)"},
		{"tiny embedded cache", map[string]string{"ORGD_EMBEDDED_CACHE_KIB": "8"}, nil, "ORGD_EMBEDDED_CACHE_KIB"},
		{"tenant db too long for its suffix", map[string]string{"ORGD_TENANT_DB": strings.Repeat("t", 60)}, nil, "at most 59 characters"},
		{"bad uri", map[string]string{"MONGODB_URI": "http://x"}, nil, "MONGODB_URI"},
		{"public embedded addr", map[string]string{"ORGD_EMBEDDED_ADDR": "0.0.0.0:27017"}, nil, "ORGD_EMBEDDED_ADDR"},
		{"embedded port out of range", map[string]string{"ORGD_EMBEDDED_ADDR": "127.0.0.1:99999"}, nil, "ORGD_EMBEDDED_ADDR (-embedded-addr) \"127.0.0.1:99999\": must be host:port with a port from 0 to 65535"},
		{"taken embedded port", map[string]string{"ORGD_EMBEDDED_ADDR": taken.Addr().String()}, nil, "ORGD_EMBEDDED_ADDR"},
		{"taken api port", map[string]string{"ORGD_ADDR": taken.Addr().String()}, nil, "ORGD_ADDR"},
		{"admin on the api's address", map[string]string{"ORGD_ADDR": "unix:" + filepath.Join(dir, "a.sock"), "ORGD_ADMIN_ADDR": "unix:" + dir + "//./a.sock"}, nil, "ORGD_ADMIN_ADDR is ORGD_ADDR's socket"},
		{"short secret", map[string]string{"ORGD_JWT_SECRET": "short"}, nil, "ORGD_JWT_SECRET"},
		{"missing secret file", map[string]string{"ORGD_JWT_SECRET_FILE": filepath.Join(dir, "nope")}, nil, "ORGD_JWT_SECRET_FILE"},
		{"secret in place of its file", map[string]string{"ORGD_JWT_SECRET_FILE": "short-secret-short-secret-short-secret"}, nil, "not the secret itself"},
		{"external without secret", map[string]string{"MONGODB_URI": "mongodb://127.0.0.1:1"}, nil, "ORGD_JWT_SECRET"},
		{"bad flag value", nil, []string{"-token-ttl", "x"}, "ORGD_TOKEN_TTL (-token-ttl)"},
		{"empty data dir flag", nil, []string{"-data-dir="}, "ORGD_DATA_DIR (-data-dir)"},
		{"unknown command", nil, []string{"stats"}, `unknown command "stats"`},
		{"version with an argument", nil, []string{"version", "--short"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			err := run(context.Background(), append([]string{"orgd"}, tt.args...), func(k string) string { return env[k] }, io.Discard, logs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run error %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "short") && (tt.name == "short secret" || tt.name == "secret in place of its file") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestUsage checks that orgd -h lists the commands as well as the flags.
func TestUsage(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"orgd", "-h"}, func(string) string { return "" }, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v", err)
	}
	for _, want := range []string{"doctor", "orgs list", "deployments", "move <organization>", "drain <deployment>", "bench", "config", "version", "-addr", "(ORGD_ADDR)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not show %q:\n%s", want, out.String())
		}
	}
	// As it says, each command shows its own.
	var stdout strings.Builder
	if err := run(context.Background(), []string{"orgd", "version", "-h"}, func(string) string { return "" }, &stdout, io.Discard); !errors.Is(err, flag.ErrHelp) || stdout.Len() > 0 {
		t.Errorf("orgd version -h: %v, printed %q; want its usage only", err, stdout.String())
	}
}

// TestFlagsOverrideEnvironment checks the precedence flag > environment > default.
func TestFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"ORGD_TOKEN_TTL": "5m", "ORGD_MASTER_DB": "from_env"}
	cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-token-ttl", "7m"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TokenTTL != 7*time.Minute || cfg.MasterDB != "from_env" || cfg.TenantDB != "orgd_tenants" || cfg.Addr != ":8080" || cfg.BcryptCost != 12 {
		t.Errorf("config %+v", cfg)
	}
}
