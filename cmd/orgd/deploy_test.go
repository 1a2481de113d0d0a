package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The deployment files cannot run here (no container engine); these tests
// check what can be checked: that they build this command the way the tests
// do, run it as they say, and name settings and routes that exist.

const repoRoot = "../.."

// dockerfile returns the Dockerfile's instructions, continuation lines joined
// and comments dropped.
func dockerfile(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	return out
}

// TestDockerfile checks the image: a multi-stage build of ./cmd/orgd without
// cgo, on the Go version of go.mod; a final stage without a shell, running as
// a non-root user; and -ldflags that really set what orgd version prints.
func TestDockerfile(t *testing.T) {
	lines := dockerfile(t)
	var froms []string
	var build, user, entrypoint string
	env := map[string]string{}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			froms = append(froms, rest)
		case "RUN":
			if strings.Contains(rest, "go build") {
				build = rest
			}
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entrypoint = rest
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %v", froms)
	}
	gomod, _ := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(froms[0], "golang:"+string(goVersion[1])+" ") {
		t.Errorf("build stage %q does not use the Go of go.mod (%s)", froms[0], goVersion)
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage %q: want a static base without a shell (distroless static or scratch)", final)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/orgd") {
		t.Errorf("the build %q must be CGO_ENABLED=0 go build ... ./cmd/orgd", build)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0:") || user == "0" {
		t.Errorf("USER %q: want a non-root user", user)
	}
	if !strings.HasPrefix(entrypoint, `["`) {
		t.Errorf("ENTRYPOINT %s: want the exec form, which needs no shell", entrypoint)
	}
	checkSettings(t, "Dockerfile ENV", env)

	// The image's -ldflags, with the build arguments filled in, set what
	// orgd version prints.
	m := regexp.MustCompile(`-ldflags "([^"]*)"`).FindStringSubmatch(build)
	if m == nil {
		t.Fatalf("no -ldflags in %q", build)
	}
	ldflags := strings.NewReplacer("${VERSION}", "9.8.7-test", "${COMMIT}", "c0ffee123").Replace(m[1])
	bin := filepath.Join(t.TempDir(), "orgd")
	args := []string{"build", "-ldflags", ldflags, "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // only links: the packages are compiled for this test already
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("orgd 9.8.7-test\n")) || !bytes.Contains(out, []byte("commit: c0ffee123")) {
		t.Errorf("orgd version printed:\n%s", out)
	}
}

// checkSettings fails for every ORGD_ or MONGODB_ variable that orgd does not read.
func checkSettings(t *testing.T, where string, env map[string]string) {
	t.Helper()
	known := map[string]bool{configEnv: true}
	for _, s := range settings() {
		known[s.env] = true
	}
	for k := range env {
		if (strings.HasPrefix(k, "ORGD_") || strings.HasPrefix(k, "MONGODB_")) && !known[k] {
			t.Errorf("%s sets %s, which orgd does not read", where, k)
		}
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// dig walks nested maps and lists: a string key for a map, an int for a list.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestDeploymentFiles checks the compose file and the Kubernetes example
// against a running orgd: their probe and metrics paths answer 200 on the
// listener their port names, and every setting they pass exists.
func TestDeploymentFiles(t *testing.T) {
	env := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_ADMIN_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0",
		"ORGD_DATA_DIR": t.TempDir(), "ORGD_BCRYPT_COST": "4"}
	banner, _ := startBanner(t, env, io.Discard)
	admin := strings.TrimSuffix(banner["Metrics"], "/metrics")
	listeners := map[string]string{":8080": banner["API"], ":9090": admin} // by the addresses the files configure

	get200 := func(what, url string) {
		t.Helper()
		if status, _, _ := send(t, "GET", url, "", ""); status != 200 {
			t.Errorf("%s: GET %s answered %d", what, url, status)
		}
	}

	// Kubernetes.
	var deployment map[string]any
	for _, d := range yamlDocs(t, "deploy/k8s/orgd.yaml") {
		if d["kind"] == "Deployment" {
			deployment = d
		}
	}
	if deployment == nil {
		t.Fatal("deploy/k8s/orgd.yaml has no Deployment")
	}
	c := dig(deployment, "spec", "template", "spec", "containers", 0)
	kenv := map[string]string{}
	for _, e := range dig(c, "env").([]any) {
		v, _ := dig(e, "value").(string)
		kenv[dig(e, "name").(string)] = v
	}
	checkSettings(t, "the Kubernetes Deployment", kenv)
	portAddr := map[string]string{} // port name -> the listen address orgd is given for it
	for _, p := range dig(c, "ports").([]any) {
		num := dig(p, "containerPort").(int)
		for _, setting := range []string{"ORGD_ADDR", "ORGD_ADMIN_ADDR"} {
			if kenv[setting] == ":"+strconv.Itoa(num) {
				portAddr[dig(p, "name").(string)] = kenv[setting]
			}
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		path, _ := dig(c, probe, "httpGet", "path").(string)
		port, _ := dig(c, probe, "httpGet", "port").(string)
		base := listeners[portAddr[port]]
		if path == "" || base == "" {
			t.Errorf("%s: path %q on port %q, which is no orgd listener", probe, path, port)
			continue
		}
		get200("Kubernetes "+probe, base+path)
	}
	ann := dig(deployment, "spec", "template", "metadata", "annotations")
	mport, _ := dig(ann, "prometheus.io/port").(string)
	mpath, _ := dig(ann, "prometheus.io/path").(string)
	if base := listeners[":"+mport]; base == "" || mpath == "" {
		t.Errorf("Prometheus annotations name port %q path %q", mport, mpath)
	} else {
		get200("Prometheus scrape", base+mpath)
	}
	if listeners[kenv["ORGD_ADMIN_ADDR"]] != admin {
		t.Error("the Deployment does not move the metrics to an admin port")
	}

	// Compose.
	compose := yamlDocs(t, "compose.yaml")[0]
	oenv := map[string]string{}
	for k, v := range dig(compose, "services", "orgd", "environment").(map[string]any) {
		oenv[k], _ = v.(string)
	}
	checkSettings(t, "compose.yaml", oenv)
	if !strings.Contains(oenv["MONGODB_URI"], "replicaSet=") {
		t.Errorf("compose.yaml: MONGODB_URI %q is not a replica set", oenv["MONGODB_URI"])
	}
	if dig(compose, "services", "orgd", "build") == nil {
		t.Error("compose.yaml does not build orgd from this Dockerfile")
	}
	for _, p := range dig(compose, "services", "orgd", "ports").([]any) {
		parts := strings.Split(p.(string), ":")
		if addr := ":" + parts[len(parts)-1]; listeners[addr] == "" || oenv["ORGD_ADDR"] != addr && oenv["ORGD_ADMIN_ADDR"] != addr {
			t.Errorf("compose.yaml publishes %s, on which orgd does not listen", p)
		}
	}
}
