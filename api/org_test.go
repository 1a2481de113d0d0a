package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

var acme = org{"Acme", "Admin@Acme.test", "correct horse"}

// collections lists the collections of database name; for the tenant
// database in the database model, the collections of every organization's
// own database, so that tests read the same in both models.
func (e *env) collections(name string) []string {
	e.t.Helper()
	ctx := context.Background()
	dbs := []string{name}
	if name == e.db.TenantDB && e.tenancy == "database" {
		all, err := e.db.Client.ListDatabaseNames(ctx, bson.D{})
		if err != nil {
			e.t.Fatal(err)
		}
		dbs = slices.DeleteFunc(all, func(db string) bool { return !strings.HasPrefix(db, e.db.Prefix+"org_") })
	}
	var names []string
	for _, db := range dbs {
		some, err := e.db.Client.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			e.t.Fatal(err)
		}
		names = append(names, some...)
	}
	slices.Sort(names)
	return names
}

// tenantColl is the tenant collection called name (org_<name>), in the
// shared tenant database or, in the database model, in its own.
func (e *env) tenantColl(name string) *mongo.Collection {
	if e.tenancy == "database" {
		return e.db.Client.Database(e.db.Prefix + name).Collection(name)
	}
	return e.db.Client.Database(e.db.TenantDB).Collection(name)
}

func (e *env) count(db, coll string) int64 {
	e.t.Helper()
	c := e.db.Client.Database(db).Collection(coll)
	if db == e.db.TenantDB {
		c = e.tenantColl(coll)
	}
	n, err := c.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestOrganizationLifecycle walks create, get, login, rename (with data),
// email and password change and delete, checking the database at each step.
func TestOrganizationLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	r := e.create(acme).mustStatus(t, 201)
	for k, want := range map[string]any{"organization_name": "Acme", "collection_name": "org_acme", "database": e.tenantColl("org_acme").Database().Name(),
		"admin_email": "Admin@Acme.test", "tenancy": e.tenancy, "deployment": "main"} {
		if r.JSON[k] != want {
			t.Errorf("create: %s = %v, want %v", k, r.JSON[k], want)
		}
	}
	if r.JSON["created_at"] == nil {
		t.Error("create: no created_at")
	}
	if loc := r.Header.Get("Location"); loc != "/org/get?organization_name=Acme" {
		t.Errorf("create: Location %q", loc)
	}
	if got := e.collections(e.db.TenantDB); !slices.Equal(got, []string{"org_acme"}) {
		t.Fatalf("tenant collections %v, want [org_acme]", got)
	}

	// Public view: no admin email.
	r = e.call("GET", "/org/get?organization_name=ACME", "", nil).mustStatus(t, 200)
	if _, ok := r.JSON["admin_email"]; ok || r.JSON["collection_name"] != "org_acme" || r.JSON["updated_at"] == nil {
		t.Errorf("public get: %s", r.Raw)
	}

	// Login is by email alone, case-insensitively.
	tok := e.login("admin@acme.TEST", acme.password)
	r = e.call("GET", "/org/get?organization_name=acme", tok, nil).mustStatus(t, 200)
	if r.JSON["admin_email"] != "Admin@Acme.test" {
		t.Errorf("admin get: admin_email = %v", r.JSON["admin_email"])
	}
	// With a token and no name: the token's own organization, as a client
	// that knows only its login (the console) finds its organization.
	if own := e.call("GET", "/org/get", tok, nil).mustStatus(t, 200); own.Raw != r.Raw {
		t.Errorf("own organization by token: %s, want %s", own.Raw, r.Raw)
	}

	// Tenant data, with an index, must survive the rename.
	coll := e.tenantColl("org_acme")
	docs := []any{bson.D{{Key: "_id", Value: "a"}, {Key: "sku", Value: "x1"}}, bson.D{{Key: "_id", Value: "b"}, {Key: "sku", Value: "x2"}}}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "sku", Value: 1}}}); err != nil {
		t.Fatal(err)
	}

	r = e.call("PUT", "/org/update", tok, map[string]string{"organization_name": "Wile-E"}).mustStatus(t, 200)
	if r.JSON["organization_name"] != "Wile-E" || r.JSON["collection_name"] != "org_wile-e" {
		t.Errorf("rename: %s", r.Raw)
	}
	if got := e.collections(e.db.TenantDB); !slices.Equal(got, []string{"org_wile-e"}) {
		t.Fatalf("after rename, tenant collections %v, want [org_wile-e]", got)
	}
	if n := e.count(e.db.TenantDB, "org_wile-e"); n != 2 {
		t.Errorf("after rename, %d documents, want 2", n)
	}
	specs, err := e.tenantColl("org_wile-e").Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool { return strings.HasPrefix(s.Name, "sku") }) {
		t.Errorf("after rename, index on sku is missing: %v", specs)
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).isProblem(t, 404)
	// The token names ids, not names: it still works after the rename.
	e.call("GET", "/org/get?organization_name=wile-e", tok, nil).mustStatus(t, 200)

	// The old name is free again.
	other := org{"acme", "other@acme.test", "another password"}
	e.create(other).mustStatus(t, 201)

	// Email and password change: old credentials stop working.
	r = e.call("PUT", "/org/update", tok, map[string]string{"email": "boss@wile.test", "password": "new password!"}).mustStatus(t, 200)
	if r.JSON["admin_email"] != "boss@wile.test" {
		t.Errorf("email change: %s", r.Raw)
	}
	e.call("POST", "/admin/login", "", map[string]string{"email": acme.email, "password": acme.password}).isProblem(t, 401)
	e.call("POST", "/admin/login", "", map[string]string{"email": "boss@wile.test", "password": acme.password}).isProblem(t, 401)
	tok = e.login("boss@wile.test", "new password!")
	// The old email is free again.
	e.create(org{"third", acme.email, "third password"}).mustStatus(t, 201)

	// Delete: collection, record, admin and keys go; tokens die.
	e.call("DELETE", "/org/delete?organization_name=WILE-E", tok, nil).mustStatus(t, 204)
	if got := e.collections(e.db.TenantDB); slices.Contains(got, "org_wile-e") {
		t.Errorf("after delete, tenant collections %v still hold org_wile-e", got)
	}
	e.call("GET", "/org/get?organization_name=wile-e", "", nil).isProblem(t, 404)
	e.call("GET", "/org/get?organization_name=acme", tok, nil).isProblem(t, 401)
	e.call("PUT", "/org/update", tok, map[string]string{"email": "x@y.test"}).isProblem(t, 401)
	e.call("POST", "/admin/login", "", map[string]string{"email": "boss@wile.test", "password": "new password!"}).isProblem(t, 401)
	for _, c := range []string{"organizations", "admins", "org_names", "admin_emails"} {
		if n := e.count(e.db.MasterDB, c); n != 2 {
			t.Errorf("after delete, %s holds %d documents, want 2 (the two other organizations)", c, n)
		}
	}
	e.create(org{"wile-e", "boss@wile.test", "new password!"}).mustStatus(t, 201)
}

// TestNoSecretsStored checks that the master database and the responses never
// hold a plain password, and that hashes never leave the service.
func TestNoSecretsStored(t *testing.T) {
	e := newEnv(t)
	var bodies []string
	bodies = append(bodies, e.create(acme).mustStatus(t, 201).Raw)
	tok := e.login(acme.email, acme.password)
	bodies = append(bodies, e.call("GET", "/org/get?organization_name=acme", tok, nil).Raw)
	bodies = append(bodies, e.call("PUT", "/org/update", tok, map[string]string{"password": "second password"}).Raw)
	bodies = append(bodies, e.call("POST", "/org/create", "", map[string]string{"organization_name": "x", "email": "bad", "password": strings.Repeat("p", 80)}).Raw)

	for _, c := range []string{"organizations", "admins", "org_names", "admin_emails"} {
		cur, err := e.db.Client.Database(e.db.MasterDB).Collection(c).Find(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(context.Background(), &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			s := bson.M(d)
			for _, pw := range []string{acme.password, "second password"} {
				if strings.Contains(stringify(s), pw) {
					t.Errorf("%s holds a plain password: %v", c, d)
				}
			}
		}
	}
	for _, b := range append(bodies, e.logs.String()) {
		for _, secret := range []string{acme.password, "second password", "$2a$", strings.Repeat("p", 80)} {
			if strings.Contains(b, secret) {
				t.Errorf("response or log holds a secret %q: %s", secret, b)
			}
		}
	}
}

func stringify(v any) string {
	b, _ := bson.MarshalExtJSON(v, false, false)
	return string(b)
}

// TestConcurrentCreatesOfOneName checks that uniqueness comes from the
// database: of concurrent creates of one name exactly one wins.
func TestConcurrentCreatesOfOneName(t *testing.T) {
	e := newEnv(t)
	const n = 50
	statuses := make(chan int, n)
	for i := range n {
		go func() {
			o := org{[]string{"Race", "race", "RACE"}[i%3], fmt.Sprintf("admin%d@race.test", i), "correct horse"}
			statuses <- e.create(o).Status
		}()
	}
	count := map[int]int{}
	for range n {
		count[<-statuses]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
	}
	if got := e.collections(e.db.TenantDB); !slices.Equal(got, []string{"org_race"}) {
		t.Errorf("tenant collections %v, want [org_race]", got)
	}
	for _, c := range []string{"organizations", "admins", "org_names", "admin_emails"} {
		if got := e.count(e.db.MasterDB, c); got != 1 {
			t.Errorf("%s holds %d documents, want 1", c, got)
		}
	}
}
