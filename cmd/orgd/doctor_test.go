package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/embeddb"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestDoctor plants each kind of violation by hand, and checks that doctor
// reports it in plain words and exits non-zero, that -repair fixes what can
// be fixed without losing data, and that what cannot stays reported.
func TestDoctor(t *testing.T) {
	db := mongotest.New(t)
	ctx := context.Background()
	env := map[string]string{"MONGODB_URI": db.URI, "ORGD_MASTER_DB": db.MasterDB, "ORGD_TENANT_DB": db.TenantDB}
	doc := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"orgd", "doctor"}, args...), func(k string) string { return env[k] }, &out, &bytes.Buffer{})
		return out.String(), err
	}
	if out, err := doc(); err != nil || !strings.Contains(out, "No problems found") {
		t.Fatalf("empty database: %v\n%s", err, out)
	}

	store := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB})
	mk := func(name string) *orgd.Organization {
		o, err := store.CreateOrganization(ctx, name, name+"@x.test", "h")
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	noKey, noEmailKey, noColl := mk("nokey"), mk("noemailkey"), mk("nocoll")
	mk("busy")
	master, tenants := db.Client.Database(db.MasterDB), db.Client.Database(db.TenantDB)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	_, err := master.Collection("org_names").InsertOne(ctx, bson.M{"_id": "ghost", "org_id": "nobody", "created_at": old})
	must(err)
	_, err = master.Collection("admin_emails").InsertOne(ctx, bson.M{"_id": "ghost@x.test", "org_id": "nobody", "admin_id": "nobody", "created_at": old})
	must(err)
	_, err = master.Collection("admins").InsertOne(ctx, bson.M{"_id": "lost-admin", "org_id": "nobody", "email": "lost@x.test", "password_hash": "h", "created_at": old})
	must(err)
	must(tenants.CreateCollection(ctx, "org_ghost"))
	_, err = master.Collection("org_names").DeleteOne(ctx, bson.M{"_id": noKey.Name})
	must(err)
	_, err = master.Collection("admin_emails").DeleteOne(ctx, bson.M{"_id": "noemailkey@x.test"})
	must(err)
	must(tenants.Collection(noColl.Collection).Drop(ctx))
	// An operation whose process died an hour ago.
	past := mongodb.NewStore(db.Client, mongodb.Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, Now: func() time.Time { return old }})
	past.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if step == "release" {
			return mongodb.ErrAbort
		}
		return nil
	}})
	busy, _ := store.OrganizationByName(ctx, "busy")
	if _, err := past.UpdateOrganization(ctx, busy.ID, orgd.OrganizationUpdate{Name: ptr("calm")}); err == nil {
		t.Fatal("the planted abort did not happen")
	}
	_ = noEmailKey

	out, err := doc()
	if err == nil {
		t.Errorf("doctor exited 0 with problems planted:\n%s", out)
	}
	for _, want := range []string{
		`name key "ghost"`, `email key "ghost@x.test"`, "admin lost-admin", "org_ghost belongs to no organization and is empty",
		`"nokey"`, `"noemailkey"`, `collection ` + db.TenantDB + `.org_nocoll is missing`, "interrupted update",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor does not report %s:\n%s", want, out)
		}
	}

	out, err = doc("-repair")
	t.Logf("orgd doctor -repair:\n%s", out)
	if err != nil || !strings.Contains(out, "All problems fixed") {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	if out, err := doc(); err != nil {
		t.Fatalf("after repair: %v\n%s", err, out)
	}
	if _, err := store.OrganizationByName(ctx, "calm"); err != nil {
		t.Errorf("the interrupted rename was not finished: %v", err)
	}

	// What cannot be fixed without losing data stays reported.
	_, err = tenants.Collection("org_haunted").InsertOne(ctx, bson.M{"x": 1})
	must(err)
	_, err = master.Collection("admins").DeleteOne(ctx, bson.M{"_id": noKey.AdminID})
	must(err)
	out, err = doc("-repair")
	if err == nil || !strings.Contains(out, "org_haunted belongs to no organization and holds data (1 document by its statistics): kept") ||
		!strings.Contains(out, `"nokey"`) || !strings.Contains(out, "still broken") {
		t.Errorf("unfixable problems: %v\n%s", err, out)
	}
	if n, _ := tenants.Collection("org_haunted").CountDocuments(ctx, bson.M{}); n != 1 {
		t.Error("doctor -repair lost data")
	}
}

func ptr[T any](v T) *T { return &v }

// TestToolsOpenTheirDirectory checks that a tool works on the data
// directory it was given: never on another orgd's database answering on
// ORGD_EMBEDDED_ADDR, and never on an empty directory it would create.
func TestToolsOpenTheirDirectory(t *testing.T) {
	ours, theirs := t.TempDir(), t.TempDir()
	create := func(base, name string) {
		t.Helper()
		if s := post(t, base+"/org/create", `{"organization_name":"`+name+`","email":"a@`+name+`.test","password":"correct horse"}`); s != 201 {
			t.Fatalf("create %s: %d", name, s)
		}
	}
	base, stop := start(t, map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": ours, "ORGD_BCRYPT_COST": "4"})
	create(base, "ours")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	base, stop = start(t, map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": theirs, "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_BCRYPT_COST": "4"})
	defer stop()
	create(base, "theirs")
	uri, err := embeddb.Running(theirs)
	if err != nil || !strings.HasPrefix(uri, "mongodb://127.0.0.1:") {
		t.Fatalf("the running orgd's address: %q, %v", uri, err)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")

	tool := func(dir string, args ...string) (string, error) {
		env := map[string]string{"ORGD_DATA_DIR": dir, "ORGD_EMBEDDED_ADDR": addr}
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"orgd"}, args...), func(k string) string { return env[k] }, &out, logs)
		return out.String(), err
	}
	if out, err := tool(ours, "orgs", "list"); err != nil || !strings.Contains(out, "ours") || strings.Contains(out, "theirs") {
		t.Errorf("orgs list on the stopped directory, with the other's address set: %v\n%s", err, out)
	}
	if out, err := tool(theirs, "orgs", "list"); err != nil || !strings.Contains(out, "theirs") {
		t.Errorf("orgs list on the running one: %v\n%s", err, out)
	}
	typo := filepath.Join(t.TempDir(), "typo")
	if out, err := tool(typo, "doctor"); err == nil || !strings.Contains(err.Error(), "no orgd data in") {
		t.Errorf("doctor on a directory that does not exist: %v\n%s", err, out)
	}
	if _, err := os.Stat(typo); err == nil {
		t.Error("doctor created the directory it was wrongly given")
	}
}

// TestToolsOnADirectoryWithAColon runs a tool on a data directory whose
// path the socket's address cannot hold: it opens the database on a port.
func TestToolsOnADirectoryWithAColon(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orgd:1")
	base, stop := start(t, map[string]string{"ORGD_ADDR": "127.0.0.1:0", "ORGD_DATA_DIR": dir, "ORGD_EMBEDDED_ADDR": "127.0.0.1:0", "ORGD_BCRYPT_COST": "4"})
	if s := post(t, base+"/org/create", `{"organization_name":"colon","email":"a@colon.test","password":"correct horse"}`); s != 201 {
		t.Fatalf("create: %d", s)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ORGD_DATA_DIR": dir}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"orgd", "orgs", "list"}, func(k string) string { return env[k] }, &out, logs); err != nil || !strings.Contains(out.String(), "colon") {
		t.Errorf("orgs list: %v\n%s", err, out.String())
	}
}
