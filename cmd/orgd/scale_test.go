package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestScaleConfigErrors checks that bad tenancy, deployment and operator
// settings stop startup with a message naming the setting, and never show a
// deployment's URI (it may hold a password) or the operator credential.
func TestScaleConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tokenFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := tokenFile("short-token", "tiny\n")
	empty := tokenFile("empty-token", "\n")
	twoLines := tokenFile("two-tokens", strings.Repeat("t", 40)+"\n"+strings.Repeat("u", 40)+"\n")
	secretURI := "mongodb://user:hunter2hunter2@db.example:27017/"
	base := map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": dir}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad tenancy", map[string]string{"ORGD_TENANCY": "shared"}, "ORGD_TENANCY"},
		{"long prefix", map[string]string{"ORGD_TENANT_DB_PREFIX": "much_too_long_"}, "ORGD_TENANT_DB_PREFIX"},
		{"bad prefix", map[string]string{"ORGD_TENANT_DB_PREFIX": "a.b"}, "ORGD_TENANT_DB_PREFIX"},
		{"bad home name", map[string]string{"ORGD_DEPLOYMENT": "Main!"}, "ORGD_DEPLOYMENT"},
		{"clusters and file", map[string]string{"ORGD_CLUSTERS": "east=" + secretURI, "ORGD_CLUSTERS_FILE": "x"}, "ORGD_CLUSTERS_FILE"},
		{"cluster without uri", map[string]string{"ORGD_CLUSTERS": "east"}, "ORGD_CLUSTERS"},
		{"second cluster without uri", map[string]string{"ORGD_CLUSTERS": "east=" + secretURI + " west"}, "entry 2"},
		{"cluster uri without its name", map[string]string{"ORGD_CLUSTERS": "mongodb://user:hunter2hunter2@db.example:27017/?authSource=admin"}, "ORGD_CLUSTERS"},
		{"cluster with a bad scheme", map[string]string{"ORGD_CLUSTERS": "east=postgres://user:hunter2hunter2@x/"}, "ORGD_CLUSTERS"},
		{"cluster with a bad name", map[string]string{"ORGD_CLUSTERS": "East!=" + secretURI}, "ORGD_CLUSTERS"},
		{"cluster named twice", map[string]string{"ORGD_CLUSTERS": "east=" + secretURI + " east=" + secretURI}, "ORGD_CLUSTERS"},
		{"cluster named as home", map[string]string{"ORGD_CLUSTERS": "main=" + secretURI}, "ORGD_DEPLOYMENT"},
		{"bad cluster option", map[string]string{"ORGD_CLUSTERS": "east=mongodb://user:hunter2hunter2@x/?w=bogus&timeoutMS=-5"}, "east"},
		{"missing clusters file", map[string]string{"ORGD_CLUSTERS_FILE": filepath.Join(dir, "nope")}, "ORGD_CLUSTERS_FILE"},
		{"clusters in place of their file", map[string]string{"ORGD_CLUSTERS_FILE": "east=" + secretURI}, "not the secret itself"},
		{"token in place of its file", map[string]string{"ORGD_OPERATOR_TOKEN_FILE": "hunter2hunter2hunter2hunter2hunter2"}, "not the secret itself"},
		{"token and file", map[string]string{"ORGD_OPERATOR_TOKEN": strings.Repeat("t", 40), "ORGD_OPERATOR_TOKEN_FILE": "x"}, "ORGD_OPERATOR_TOKEN_FILE"},
		{"short token", map[string]string{"ORGD_OPERATOR_TOKEN_FILE": short}, "ORGD_OPERATOR_TOKEN_FILE"},
		{"empty token file", map[string]string{"ORGD_OPERATOR_TOKEN_FILE": empty}, "ORGD_OPERATOR_TOKEN_FILE"},
		{"two tokens in the file", map[string]string{"ORGD_OPERATOR_TOKEN_FILE": twoLines}, "ORGD_OPERATOR_TOKEN_FILE"},
		{"two words in the token", map[string]string{"ORGD_OPERATOR_TOKEN": strings.Repeat("t", 40) + " " + strings.Repeat("u", 40)}, "ORGD_OPERATOR_TOKEN"},
		{"tenant database too long to spread", map[string]string{"ORGD_TENANT_DB": strings.Repeat("t", 61)}, "ORGD_TENANT_DB"},
		{"master database the embedded one refuses", map[string]string{"ORGD_MASTER_DB": "orgd+m"}, "ORGD_MASTER_DB"},
		{"tenant database the embedded one refuses", map[string]string{"ORGD_TENANT_DB": "tenants@x"}, "ORGD_TENANT_DB"},
		{"drain under cache sync", map[string]string{"ORGD_MOVE_DRAIN": "500ms", "ORGD_CACHE_SYNC": "1s"}, "ORGD_MOVE_DRAIN"},
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
			err := run(context.Background(), []string{"orgd"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run error %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "tiny") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
	cfg, err := loadConfig(flag.NewFlagSet("orgd", flag.ContinueOnError), []string{"-default-tenancy", "database", "-home-deployment", "west"},
		func(k string) string { return map[string]string{"ORGD_TENANCY": "collection"}[k] }, io.Discard)
	if err != nil || cfg.Tenancy != "database" || cfg.Deployment != "west" || cfg.MoveDrain != 2*time.Second {
		t.Errorf("flags over environment: %+v, %v", cfg.scaleConfig, err)
	}
}

// scaleEnv is a configuration with a second deployment, "east", on a
// server of the test's own, given by a clusters file.
func scaleEnv(t *testing.T) (*mongotest.DB, *mongo.Client, map[string]string) {
	t.Helper()
	db := mongotest.New(t)
	east := mongotest.NewServer(t)
	dir := t.TempDir()
	clusters := filepath.Join(dir, "clusters")
	if err := os.WriteFile(clusters, []byte("# tenants' deployments\neast="+east.URI+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return db, east.Client, map[string]string{"MONGODB_URI": db.URI, "ORGD_MASTER_DB": db.MasterDB, "ORGD_TENANT_DB": db.TenantDB,
		"ORGD_TENANT_DB_PREFIX": db.Prefix, "ORGD_CLUSTERS_FILE": clusters, "ORGD_CACHE_SYNC": "0", "ORGD_MOVE_DRAIN": "50ms",
		"ORGD_JWT_SECRET": strings.Repeat("s", 32), "ORGD_BCRYPT_COST": "4", "ORGD_ADDR": "127.0.0.1:0"}
}

// TestOperatorCommands lists organizations, reads placement statistics,
// drains a deployment and moves an organization from a terminal.
func TestOperatorCommands(t *testing.T) {
	db, east, env := scaleEnv(t)
	ctx := context.Background()
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"orgd"}, args...), func(k string) string { return env[k] }, &out, io.Discard)
		return out.String(), err
	}
	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, TenantDBPrefix: db.Prefix,
		Deployments: map[string]*mongo.Client{"east": east}})
	defer store.Close()
	for _, name := range []string{"acme", "beta", "gamma"} {
		o, err := store.CreateOrganization(ctx, name, name+"@x.test", "h")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.CreateRecord(ctx, o, []byte(`{"k":1}`)); err != nil {
			t.Fatal(err)
		}
	}

	out, err := cmd("orgs", "list", "-limit", "2")
	if err != nil || !strings.Contains(out, "acme") || !strings.Contains(out, "beta") || strings.Contains(out, "gamma") || !strings.Contains(out, "-after ") {
		t.Errorf("orgs list -limit 2: %v\n%s", err, out)
	}
	if _, err := cmd("orgs", "list", "-status", "bogus"); err == nil || !strings.Contains(err.Error(), "-status") {
		t.Errorf("orgs list -status bogus: %v, want an error naming -status", err)
	}
	for _, bad := range [][]string{{"-deployment", "East!"}, {"-after", "zzzz"}, {"-after", "01m8k6tbz11c43y1f074cwhtnf"}, {"-after", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"}} {
		if _, err := cmd(append([]string{"orgs", "list"}, bad...)...); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("orgs list %v: %v, want an error naming %s", bad, err, bad[0])
		}
	}
	// The next page's command keeps the filters and the page size.
	if out, err := cmd("orgs", "list", "-limit", "1", "-deployment", "east"); err != nil || !strings.Contains(out, "more: orgd orgs list -deployment east -limit 1 -after ") {
		t.Errorf("orgs list -limit 1 -deployment east: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"move", "-h"}, {"drain", "-h"}, {"orgs", "list", "-h"}} {
		if _, err := cmd(args...); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v, want the usage", args, err)
		}
	}
	out, err = cmd("orgs", "list", "-all", "-limit", "1", "-deployment", "east")
	if err != nil || !strings.Contains(out, "acme") || !strings.Contains(out, "gamma") || !strings.Contains(out, "2 organizations") {
		t.Errorf("orgs list on east: %v\n%s", err, out)
	}
	out, err = cmd("deployments")
	if err != nil || !strings.Contains(out, "east") || !strings.Contains(out, "main") || !strings.Contains(out, "home") {
		t.Errorf("deployments: %v\n%s", err, out)
	}
	if out, err = cmd("drain", "east"); err != nil || !strings.Contains(out, "draining") {
		t.Errorf("drain: %v\n%s", err, out)
	}
	if _, err := cmd("drain", "west"); err == nil {
		t.Error("draining an unknown deployment succeeded")
	}

	out, err = cmd("move", "beta", "-tenancy", "database")
	if err != nil || !strings.Contains(out, "Moved beta to main (database model): 1 documents copied") {
		t.Fatalf("move: %v\n%s", err, out)
	}
	if _, err := cmd("move", "beta"); err == nil || !strings.Contains(err.Error(), "No other deployment takes new organizations") {
		t.Errorf("a move the policy places, with the one other deployment draining: %v", err)
	}
	// Named, a draining deployment takes it: the operator means it.
	if out, err = cmd("move", "beta", "-to", "east"); err != nil || !strings.Contains(out, "Moved beta to east") {
		t.Fatalf("move to draining east: %v\n%s", err, out)
	}
	if _, err := cmd("drain", "east", "-undo"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd("move", "beta", "-to", "west"); err == nil || !strings.Contains(err.Error(), "deployment: is not a configured deployment") {
		t.Errorf("move to an unknown deployment: %v, want the field named", err)
	}
	if _, err := cmd("move", "beta", "-tenancy", "bogus"); err == nil || !strings.Contains(err.Error(), "tenancy:") {
		t.Errorf("move to an unknown tenancy model: %v, want the field named", err)
	}
	if _, err := cmd("move", "nobody", "-to", "east"); err == nil {
		t.Error("moving an unknown organization succeeded")
	}
	o, err := store.OrganizationByID(ctx, mustID(t, store, "beta"))
	if err != nil || o.Deployment != "east" || o.Tenancy != orgd.TenancyDatabase {
		t.Fatalf("beta after the moves: %+v, %v", o, err)
	}
	if out, err := cmd("doctor"); err != nil {
		t.Errorf("doctor after the moves: %v\n%s", err, out)
	}
}

// TestMoveCommandWhileAMoveRuns checks that orgd move watches a move
// already running only when it asks for that move: one to elsewhere is
// refused, rather than watched and reported as done.
func TestMoveCommandWhileAMoveRuns(t *testing.T) {
	db, east, env := scaleEnv(t)
	ctx := context.Background()
	cfg := mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, TenantDBPrefix: db.Prefix,
		Deployments: map[string]*mongo.Client{"east": east}, Lease: 200 * time.Millisecond, Grace: 100 * time.Millisecond}
	stopped := mongodb.NewStore(db.Client, cfg)
	defer stopped.Close()
	o, err := stopped.CreateOrganization(ctx, "acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	stopped.SetHooks(mongodb.Hooks{BeforeStep: func(_, step string) error {
		if step == "catch_up" {
			return mongodb.ErrAbort // the process stops: the move stays journaled
		}
		return nil
	}})
	if err := stopped.Move(ctx, o.ID, orgd.Placement{Tenancy: orgd.TenancyDatabase}); !errors.Is(err, mongodb.ErrAbort) {
		t.Fatalf("move: %v", err)
	}
	// Each asks for somewhere else than the running move's target (its
	// deployment, database model): -to alone keeps the current model
	// (collection), as for a new move.
	elsewhere := map[string]string{"main": "east", "east": "main"}[o.Deployment]
	for _, args := range [][]string{{"-tenancy", "collection"}, {"-to", o.Deployment}, {"-to", elsewhere, "-tenancy", "database"}} {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second) // watching it would not end
		err = run(wctx, append([]string{"orgd", "move", "acme"}, args...), func(k string) string { return env[k] }, io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("orgd move acme %s during a move to the database model on %s: %v, want it refused", strings.Join(args, " "), o.Deployment, err)
		}
	}
	time.Sleep(400 * time.Millisecond) // the stopped move's lease lapses: a reconciler finishes it
	other := mongodb.NewStore(db.Client, cfg)
	defer other.Close()
	if _, err := other.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := other.OrganizationByID(ctx, o.ID); err != nil || got.Tenancy != orgd.TenancyDatabase {
		t.Errorf("after the move: %+v, %v", got, err)
	}
}

func mustID(t *testing.T, s *mongodb.Store, name string) string {
	t.Helper()
	o, err := s.OrganizationByAnyName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// TestOperatorTokenTrimmed checks that the credential set in the
// environment is taken without the line break a mounted secret often ends
// with: no Authorization header can carry it.
func TestOperatorTokenTrimmed(t *testing.T) {
	want := strings.Repeat("o", 40)
	if got, err := operatorToken(config{scaleConfig: scaleConfig{OperatorToken: want + "\n"}}); err != nil || got != want {
		t.Errorf("operatorToken: %q, %v; want %q", got, err, want)
	}
}

// TestServeWithDeployments starts orgd with a second deployment and an
// operator credential file: organizations spread over both deployments, and
// the operator endpoints answer the credential.
func TestServeWithDeployments(t *testing.T) {
	_, _, env := scaleEnv(t)
	tok := filepath.Join(t.TempDir(), "operator")
	if err := os.WriteFile(tok, []byte(strings.Repeat("o", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["ORGD_OPERATOR_TOKEN_FILE"] = tok
	base, stop := start(t, env)
	defer stop()
	for _, name := range []string{"acme", "beta"} {
		if s := post(t, base+"/org/create", `{"organization_name":"`+name+`","email":"a@`+name+`.test","password":"correct horse"}`); s != 201 {
			t.Fatalf("create: %d", s)
		}
	}
	req, _ := http.NewRequest("GET", base+"/operator/deployments", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("o", 40))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Count(string(body), `"tenants":1`) != 2 {
		t.Errorf("operator deployments: %d %s", res.StatusCode, body)
	}
}

// TestMaskClusters checks that what orgd config prints of ORGD_CLUSTERS
// hides every password, however the entries are written.
func TestMaskClusters(t *testing.T) {
	for _, v := range []string{
		"east=mongodb://user:hunter2@db.example:27017/",
		"east=mongodb://user:hunter2?x@db.example:27017/",
		"east=mongodb://user:hunter2?x@db.example:27017",
		"east=mongodb://user:hunter2@db.example:27017/?appName=a@b",
		"east=mongodb://user:hun/ter2@db.example:27017/",
		"east=mongodb+srv://user:AbC/dEf+hunter2==@cluster.example/?retryWrites=true",
		"east=mongodb://user:hunter2@[::1]:27017,[::1]:27018/?replicaSet=rs0",
		"east=mongodb://db.example/?tlsCertificateKeyFilePassword=hunter2&appName=ops@team",
		"east=mongodb://user@db.example/admin?tlsCertificateKeyFilePassword=hunter2&appName=a@b",
		"east=mongodb://db.example/?appName=x;tlsCertificateKeyFilePassword=hunter2",
		"east=mongodb://user:pw@db.example/?appName=a@b&tlsCertificateKeyFilePassword=hunter2",
		"east=mongodb://user:pw@db.example/?appName=a@b;tlsCertificateKeyFilePassword=hunter2",
		"east=mongodb://db.example/?tlsCertificateKeyFile%50assword=hunter2",
		"east=mongodb://db.example/?%41uthMechanismProperties=AWS_SESSION_TOKEN:hunter2",
		"east=mongodb://db.example/?authMechanism=MONGODB-AWS;authMechanismProperties=AWS_SESSION_TOKEN:hunter2",
		"mongodb://user:hunter2@db.example:27017/?authSource=admin",
		"east=mongodb://a:b@x/ mongodb://user:hunter2@db.example/",
		"east=mongodb+srv://user:hunter2@cluster.example/?tlsCertificateKeyFilePassword=hunter2",
		"east=mongodb://user:pw@db.example/?tlsCertificateKeyFilePassword=ab@hunter2",
		"east=mongodb://user:pw@db.example/?tlsCertificateKeyFilePassword=hunter2@ab",
	} {
		if got := maskClusters(v); strings.Contains(got, "hunter2") {
			t.Errorf("maskClusters(%q) = %q", v, got)
		}
	}
	if got := maskClusters("east=mongodb://user:pw@db.example:27017/?replicaSet=rs0"); got != "east=mongodb://user:****@db.example:27017/?replicaSet=rs0" {
		t.Errorf("masked as %q, want only the password hidden", got)
	}
}

// TestMoveInterrupted stops "orgd move" (as Ctrl-C does) while the
// organization's writes are paused: before it exits, the writes resume.
func TestMoveInterrupted(t *testing.T) {
	db, east, env := scaleEnv(t)
	env["ORGD_MOVE_DRAIN"] = "10s" // the pause lasts that long
	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, TenantDBPrefix: db.Prefix,
		Deployments: map[string]*mongo.Client{"east": east}})
	defer store.Close()
	o, err := store.CreateOrganization(context.Background(), "acme", "a@x.test", "h")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"orgd", "move", "acme", "-tenancy", "database"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if cur, err := store.OrganizationByID(context.Background(), o.ID); err == nil && cur.Status == orgd.StatusMoving {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the move never paused the organization")
		}
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("orgd move, interrupted: %v", err)
	}
	cur, err := store.OrganizationByID(context.Background(), o.ID)
	if err != nil || cur.Status != orgd.StatusActive {
		t.Fatalf("after the interrupted move: %+v, %v", cur, err)
	}
	if _, _, err := store.CreateRecord(context.Background(), cur, []byte(`{"k":1}`)); err != nil {
		t.Errorf("a write after the interrupted move: %v", err)
	}
}

// TestBannerHidesPasswords checks the masking the startup banner uses for
// its database line: a password that net/url would read as a fragment or a
// query ('#', '?') is hidden like any other.
func TestBannerHidesPasswords(t *testing.T) {
	for _, uri := range []string{
		"mongodb://admin:#hunter2@127.0.0.1:27017/admin",
		"mongodb://admin:2024#hunter2!@127.0.0.1:27017/",
		"mongodb://admin:12?hunter2@127.0.0.1:27017/",
		"mongodb://admin:hunter2@127.0.0.1:27017/?authSource=admin",
		"mongodb://admin:pa@hunter2@127.0.0.1:27017/", // an unescaped '@', which the driver refuses
		"mongodb://admin:pa@hun@ter2@127.0.0.1:27017/",
	} {
		if got := maskURI(uri); strings.Contains(got, "hunter2") || !strings.Contains(got, "127.0.0.1:27017") {
			t.Errorf("the banner shows %q as %q", uri, got)
		}
	}
}
