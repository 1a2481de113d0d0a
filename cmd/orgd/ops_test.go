package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/mongotest"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"
)

// startBanner runs orgd like start does, and returns the lines of its
// startup banner by label (API, Docs, Metrics, Database) and its stop
// function. It waits for /healthz unless the API is on a Unix socket.
func startBanner(t *testing.T, env map[string]string, stderr io.Writer) (map[string]string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"orgd"}, func(k string) string { return env[k] }, pw, stderr)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	banner := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		label, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		banner[label] = strings.TrimSpace(value)
		if label == "Database" {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if banner["API"] == "" {
		cancel()
		t.Fatalf("orgd did not start: %v", <-done)
	}
	if strings.HasPrefix(banner["API"], "http://") {
		waitHealthy(t, banner["API"])
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("orgd did not stop within 30 s")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return banner, stop
}

// send makes one request and returns its status, headers and body.
func send(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// scrape reads a /metrics page in the Prometheus text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	status, _, body := send(t, "GET", url, "", "")
	if status != 200 {
		t.Fatalf("GET %s: %d", url, status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the metrics do not parse: %v", err)
	}
	return mfs
}

// sample finds the value of the sample of family name with exactly these
// labels (a histogram's value is its count); ok is false when there is none.
func sample(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsAfterScriptedRequests runs orgd with an admin listener, sends a
// known set of requests, and checks the metrics it exposes.
func TestMetricsAfterScriptedRequests(t *testing.T) {
	env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_ADMIN_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0",
		"ORGD_DATA_DIR": t.TempDir(), "ORGD_BCRYPT_COST": "4"}
	banner, _ := startBanner(t, env, io.Discard)
	api, metricsURL := banner["API"], banner["Metrics"]
	if !strings.HasSuffix(metricsURL, "/metrics") || strings.HasPrefix(metricsURL, api) {
		t.Fatalf("metrics at %q, want the admin listener's /metrics (API at %s)", metricsURL, api)
	}

	names := []string{"acme", "globex", "initech"}
	for _, n := range names {
		if s, _, b := send(t, "POST", api+"/org/create", "", `{"organization_name":"`+n+`","email":"admin@`+n+`.test","password":"correct horse"}`); s != 201 {
			t.Fatalf("create %s: %d %s", n, s, b)
		}
	}
	send(t, "POST", api+"/org/create", "", `{"organization_name":"acme","email":"x@acme.test","password":"correct horse"}`) // 409
	_, _, body := send(t, "POST", api+"/admin/login", "", `{"email":"admin@acme.test","password":"correct horse"}`)
	var login struct {
		Token string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(body), &login)
	for range 2 {
		send(t, "GET", api+"/org/get?organization_name=acme", login.Token, "")
	}
	send(t, "GET", api+"/org/get?organization_name=nobody", "", "")       // 404
	send(t, "GET", api+"/no/such/route/initech", "", "")                  // 404, no route
	send(t, "BREW", api+"/org/get", "", "")                               // 405, odd method
	send(t, "DELETE", api+"/org/delete?organization_name=globex", "", "") // 401
	if s, _, _ := send(t, "GET", api+"/metrics", "", ""); s != 404 {
		t.Errorf("public /metrics: %d, want 404 with an admin listener", s)
	}

	mfs := scrape(t, metricsURL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"orgd_http_requests_total", map[string]string{"method": "POST", "route": "/org/create", "code": "2xx"}, 3},
		{"orgd_http_requests_total", map[string]string{"method": "POST", "route": "/org/create", "code": "4xx"}, 1},
		{"orgd_http_requests_total", map[string]string{"method": "POST", "route": "/admin/login", "code": "2xx"}, 1},
		{"orgd_http_requests_total", map[string]string{"method": "GET", "route": "/org/get", "code": "2xx"}, 2},
		{"orgd_http_requests_total", map[string]string{"method": "GET", "route": "/org/get", "code": "4xx"}, 1},
		{"orgd_http_requests_total", map[string]string{"method": "GET", "route": "unmatched", "code": "4xx"}, 2},
		{"orgd_http_requests_total", map[string]string{"method": "OTHER", "route": "unmatched", "code": "4xx"}, 1},
		{"orgd_http_requests_total", map[string]string{"method": "DELETE", "route": "/org/delete", "code": "4xx"}, 1},
		{"orgd_http_request_duration_seconds", map[string]string{"method": "POST", "route": "/org/create", "code": "2xx"}, 3},
		{"orgd_http_requests_in_flight", map[string]string{}, 1}, // this scrape
		{"orgd_organizations", map[string]string{"status": "active"}, 3},
		{"orgd_organizations", map[string]string{"status": "creating"}, 0},
		{"orgd_bcrypt_duration_seconds", map[string]string{"op": "hash"}, 4},
		{"orgd_bcrypt_duration_seconds", map[string]string{"op": "check"}, 1},
		{"orgd_bcrypt_in_flight", map[string]string{}, 0},
		{"orgd_audit_events_deferred", map[string]string{}, 0},
	} {
		got, ok := sample(mfs, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if n, ok := sample(mfs, "orgd_db_operation_duration_seconds", map[string]string{"operation": "insert"}); !ok || n == 0 {
		t.Error("no database insert was measured")
	}
	if _, ok := sample(mfs, "orgd_reconciler_runs_total", map[string]string{"kind": "sweep", "result": "ok"}); !ok {
		t.Error("the reconciler's first round (a sweep) was not counted")
	}
	for _, name := range []string{"orgd_reconciler_repairs_total", "orgd_build_info",
		"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if mfs[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	// No label carries an organization's name, email or id.
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, n := range names {
					if strings.Contains(strings.ToLower(l.GetValue()), n) {
						t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}

// TestLogFormat checks that orgd logs JSON where no person reads (a pipe, a
// file) and text when asked, one line per request either way.
func TestLogFormat(t *testing.T) {
	for _, format := range []string{"", "json", "text"} {
		t.Run("format="+format, func(t *testing.T) {
			var logs mongotest.Logs
			env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": t.TempDir(),
				"ORGD_BCRYPT_COST": "4", "ORGD_LOG_FORMAT": format}
			banner, stop := startBanner(t, env, &logs)
			send(t, "GET", banner["API"]+"/org/get?organization_name=acme", "", "")
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			var request string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var v map[string]any
				isJSON := json.Unmarshal([]byte(line), &v) == nil
				if isJSON != (format != "text") {
					t.Errorf("JSON %v, want %v: %s", isJSON, format != "text", line)
				}
				if strings.Contains(line, "/org/get") {
					request = line
				}
			}
			for _, field := range []string{"method", "route", "status", "duration_ms", "bytes", "request_id"} {
				if !strings.Contains(request, field) {
					t.Errorf("request line lacks %s: %q", field, request)
				}
			}
		})
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is taken for a terminal")
	}
	h := newLogger(io.Discard, "auto", slog.LevelInfo).Handler()
	if !h.Enabled(context.Background(), slog.LevelInfo) || h.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("the logger ignores its level")
	}
}

// TestConfigFile checks the precedence flag > environment > file > default,
// and that a mistake in the file names the file and the setting.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "orgd.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# orgd\nORGD_ADDR: :9000\nORGD_TOKEN_TTL: 5m\nORGD_MASTER_DB: from_file\nORGD_BCRYPT_COST: 10\nORGD_TENANT_DB:\n")
	env := map[string]string{"ORGD_TOKEN_TTL": "6m", "ORGD_CONFIG": file}
	cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-bcrypt-cost", "11"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9000" || cfg.TokenTTL != 6*time.Minute || cfg.MasterDB != "from_file" || cfg.BcryptCost != 11 || cfg.TenantDB != "orgd_tenants" {
		t.Errorf("config %+v", cfg)
	}
	// -config wins over ORGD_CONFIG.
	other := filepath.Join(dir, "other.yaml")
	_ = os.WriteFile(other, []byte("ORGD_MASTER_DB: other\n"), 0o600)
	cfg, err = loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-config", other}, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.MasterDB != "other" {
		t.Errorf("with -config: %v %+v", err, cfg)
	}

	for _, tt := range []struct{ name, content, want string }{
		{"unknown key", "ORGD_ADRR: :9000\n", `unknown setting "ORGD_ADRR"`},
		{"bad value", "ORGD_TOKEN_TTL: soon\n", "ORGD_TOKEN_TTL (-token-ttl) \"soon\" in " + file},
		{"short secret", "ORGD_JWT_SECRET: tiny\n", "ORGD_JWT_SECRET (-jwt-secret) \"(hidden)\" in " + file},
		{"not a mapping", "- ORGD_ADDR\n", "must be a mapping"},
		{"nested", "ORGD_ADDR:\n  port: 1\n", "ORGD_ADDR must be a single value"},
		{"twice", "ORGD_ADDR: :1\nORGD_ADDR: :2\n", "ORGD_ADDR is set twice"},
		{"not YAML", "ORGD_ADDR: [\n", file},
		{"two documents", "ORGD_ADDR: :1\n---\nORGD_TRUSTED_PROXIES: 10.0.0.1\n", "must be one YAML document"},
	} {
		write(tt.content)
		err := run(context.Background(), []string{"orgd", "-config", file}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one with %q", tt.name, err, tt.want)
		}
	}
	err = run(context.Background(), []string{"orgd", "-config", filepath.Join(dir, "missing.yaml")}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// TestConfigCommand checks that orgd config prints every setting with its
// source, masks secrets, and prints a file orgd reads back.
func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "orgd.yaml")
	_ = os.WriteFile(file, []byte("ORGD_JWT_SECRET: file-secret-0123456789-0123456789-0123\nORGD_MASTER_DB: from_file\n"), 0o600)
	env := map[string]string{
		"MONGODB_URI":     "mongodb://orgd:hunter2-pw@db1:27017,db2:27017/?replicaSet=rs0&tlsCertificateKeyFilePassword=kf-pw&authMechanismProperties=AWS_SESSION_TOKEN:tok-123",
		"ORGD_TENANT_DB":  "from_env",
		"ORGD_JWT_SECRET": "env-secret-0123456789-0123456789-0123",
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"orgd", "config", "-config", file, "-addr", ":7000"}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, secret := range []string{"hunter2-pw", "kf-pw", "tok-123", "env-secret", "file-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("orgd config shows %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{
		`ORGD_ADDR: ":7000"`, "# flag",
		`ORGD_TENANT_DB: "from_env"`, "# environment",
		`ORGD_MASTER_DB: "from_file"`, "# file " + file,
		`ORGD_TOKEN_TTL: "15m"`, "# default",
		`MONGODB_URI: "mongodb://orgd:****@db1:27017,db2:27017/?replicaSet=rs0&tlsCertificateKeyFilePassword=****&authMechanismProperties=****"`,
		`ORGD_JWT_SECRET: "********"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("orgd config lacks %q:\n%s", want, got)
		}
	}
	for _, s := range settings() {
		if !strings.Contains(got, s.env+": ") {
			t.Errorf("orgd config lacks %s", s.env)
		}
	}
	// The output is a configuration file.
	saved := filepath.Join(dir, "saved.yaml")
	_ = os.WriteFile(saved, out.Bytes(), 0o600)
	vals, err := readConfigFile(saved, settings())
	if err != nil || vals["ORGD_ADDR"] != ":7000" || vals["ORGD_MASTER_DB"] != "from_file" {
		t.Errorf("orgd config output read back: %v %v", err, vals)
	}
	if err := run(context.Background(), []string{"orgd", "config", "-token-ttl", "x"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("orgd config accepted an invalid value")
	}
}

// TestVersionCommand checks orgd version in this test binary (the -ldflags
// path is checked with the Dockerfile's own flags in TestDockerfile).
func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"orgd", "version"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"orgd ", "commit: ", "go:     " + runtime.Version()} {
		if !strings.Contains(got, want) {
			t.Errorf("orgd version lacks %q:\n%s", want, got)
		}
	}
}
