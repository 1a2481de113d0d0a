package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd/api"
	"github.com/orgd/orgd/mongodb"
	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

const operatorToken = "operator-token-0123456789abcdef-0123456789"

// newOperatorEnv is an orgd whose tenants may live on two deployments: the
// shared test server ("main") and a server of the test's own ("east").
func newOperatorEnv(t *testing.T, token string) (*env, *mongo.Client) {
	t.Helper()
	db := mongotest.New(t)
	east := mongotest.NewServer(t).Client
	logs.Secret("operator credential", operatorToken)
	e := newEnvWith(t, db, db.Client, 50*time.Millisecond, func(c *mongodb.Config) {
		c.Deployments = map[string]*mongo.Client{"east": east}
		c.CopyBatch = 50
		c.Tenancy = "collection" // whatever ORGD_TEST_TENANCY says: the tests count per model
	}, func(d *api.Deps) { d.OperatorToken = token })
	return e, east
}

// TestOperatorCredential checks that only the operator credential reaches
// the operator endpoints: never an organization admin's token.
func TestOperatorCredential(t *testing.T) {
	e, _ := newOperatorEnv(t, operatorToken)
	admin := e.tenant("acme").token
	endpoints := []struct{ method, path, body string }{
		{"GET", "/operator/organizations", ""},
		{"POST", "/operator/organizations", `{"organization_name":"x1x","email":"x@x.test","password":"correct horse"}`},
		{"GET", "/operator/deployments", ""},
		{"PUT", "/operator/deployments/east", `{"draining":true}`},
		{"POST", "/operator/moves", `{"organization_name":"acme","deployment":"east"}`},
		{"GET", "/operator/moves", ""},
		{"GET", "/operator/moves/acme", ""},
	}
	for _, ep := range endpoints {
		for _, c := range []struct {
			name, token string
			status      int
		}{{"no credential", "", 401}, {"wrong credential", "wrong", 401}, {"admin token", admin, 403}, {"forged operator", operatorToken + "x", 401}} {
			t.Run(ep.method+" "+ep.path+" "+c.name, func(t *testing.T) {
				var body any
				if ep.body != "" {
					body = ep.body
				}
				r := e.call(ep.method, ep.path, c.token, body)
				r.isProblem(t, c.status)
				if c.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
	// The operator credential and another: which one a proxy checked is
	// not guessed.
	req, _ := http.NewRequest("PUT", e.srv.URL+"/operator/deployments/east", strings.NewReader(`{"draining":true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Authorization", "Bearer "+operatorToken)
	req.Header.Add("Authorization", "Bearer garbage")
	e.do(req).isProblem(t, 401)
	// Nothing happened.
	e.call("GET", "/operator/moves/acme", operatorToken, nil).isProblem(t, 404)
	r := e.call("GET", "/operator/deployments", operatorToken, nil).mustStatus(t, 200)
	if strings.Contains(r.Raw, `"draining":true`) {
		t.Errorf("a refused request drained a deployment: %s", r.Raw)
	}

	// No credential configured: the endpoints refuse everyone.
	off, _ := newOperatorEnv(t, "")
	off.call("GET", "/operator/deployments", "", nil).isProblem(t, 401)
	off.call("GET", "/operator/deployments", operatorToken, nil).isProblem(t, 401)
}

func (e *env) op(method, path string, body any) response {
	e.t.Helper()
	return e.call(method, path, operatorToken, body)
}

// TestOperatorPlacement creates organizations where the policy or an
// operator says, lists them page by page with filters, drains a deployment
// and reads the placement statistics.
func TestOperatorPlacement(t *testing.T) {
	e, east := newOperatorEnv(t, operatorToken)
	for i := range 4 {
		r := e.create(org{fmt.Sprintf("pol%d", i), fmt.Sprintf("p%d@x.test", i), "correct horse"}).mustStatus(t, 201)
		t.Logf("pol%d placed on %v", i, r.JSON["deployment"])
	}
	r := e.op("POST", "/operator/organizations", map[string]string{"organization_name": "Big", "email": "big@x.test",
		"password": "correct horse", "deployment": "east", "tenancy": "database"}).mustStatus(t, 201)
	if r.JSON["deployment"] != "east" || r.JSON["tenancy"] != "database" || r.JSON["database"] != e.db.Prefix+"org_big" {
		t.Errorf("operator create: %s", r.Raw)
	}
	if loc := r.Header.Get("Location"); loc != "/org/get?organization_name=Big" {
		t.Errorf("operator create: Location %q", loc)
	}
	if names, _ := east.Database(e.db.Prefix+"org_big").ListCollectionNames(context.Background(), bson.D{}); !slices.Equal(names, []string{"org_big"}) {
		t.Errorf("east holds %v for Big", names)
	}
	// Its audit log says who created it, and where.
	created := find(e.events(e.login("big@x.test", "correct horse"), ""), "organization.created")
	if d, _ := created["details"].(map[string]any); created["actor"] != "operator" || d["deployment"] != "east" || d["tenancy"] != "database" {
		t.Errorf("create event %v", created)
	}

	// Pages of two, in creation order, with a Link to the next.
	var seen []string
	next := ""
	for page := 0; ; page++ {
		path := "/operator/organizations?limit=2"
		if next != "" {
			path += "&after=" + next
		}
		r := e.op("GET", path, nil).mustStatus(t, 200)
		for _, o := range r.JSON["organizations"].([]any) {
			seen = append(seen, o.(map[string]any)["organization_name"].(string))
		}
		next, _ = r.JSON["next"].(string)
		if next == "" {
			break
		}
		if !strings.Contains(r.Header.Get("Link"), `rel="next"`) {
			t.Errorf("page %d: no Link to the next", page)
		}
	}
	if want := []string{"pol0", "pol1", "pol2", "pol3", "Big"}; !slices.Equal(seen, want) {
		t.Errorf("pages list %v, want %v", seen, want)
	}
	count := func(query string) int {
		return len(e.op("GET", "/operator/organizations?"+query, nil).mustStatus(t, 200).JSON["organizations"].([]any))
	}
	if n, m := count("deployment=east"), count("deployment=main"); n != 3 || m != 2 {
		t.Errorf("east lists %d, main %d; want 3 and 2 (fewest tenants first, and Big)", n, m)
	}
	if n := count("tenancy=database"); n != 1 {
		t.Errorf("%d in the database model, want 1", n)
	}
	if n := count("status=active&tenancy=collection"); n != 4 {
		t.Errorf("%d active in the collection model, want 4", n)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "after=nope", "after=8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "status=sleeping", "tenancy=cluster", "deployment=East!"} {
		e.op("GET", "/operator/organizations?"+bad, nil).isProblem(t, 422)
	}

	// Draining east: the policy places new organizations on main only.
	e.op("PUT", "/operator/deployments/east", map[string]bool{"draining": true}).mustStatus(t, 200)
	e.op("PUT", "/operator/deployments/west", map[string]bool{"draining": true}).isProblem(t, 404)
	for i := range 3 {
		if r := e.create(org{fmt.Sprintf("late%d", i), fmt.Sprintf("l%d@x.test", i), "correct horse"}).mustStatus(t, 201); r.JSON["deployment"] != "main" {
			t.Errorf("placed on %v while east drains", r.JSON["deployment"])
		}
	}
	// Named, a draining deployment takes an organization: the operator means it.
	if r := e.op("POST", "/operator/organizations", map[string]string{"organization_name": "Dedicated", "email": "d@x.test",
		"password": "correct horse", "deployment": "east"}).mustStatus(t, 201); r.JSON["deployment"] != "east" {
		t.Errorf("placed on %v, not on east as named", r.JSON["deployment"])
	}
	for _, body := range []map[string]string{
		{"organization_name": "Named", "email": "n@x.test", "password": "correct horse", "deployment": "west"},
		{"organization_name": "Named", "email": "n@x.test", "password": "correct horse", "tenancy": "cluster"},
		{"organization_name": "N", "email": "n@x.test", "password": "correct horse"},
	} {
		e.op("POST", "/operator/organizations", body).isProblem(t, 422)
	}

	r = e.op("GET", "/operator/deployments", nil).mustStatus(t, 200)
	for _, d := range r.JSON["deployments"].([]any) {
		d := d.(map[string]any)
		want := map[string]any{"east": 4.0, "main": 5.0}[d["name"].(string)]
		if d["tenants"] != want || d["collections_plus_indexes"].(float64) < want.(float64) || d["draining"] != (d["name"] == "east") {
			t.Errorf("deployment stats %v", d)
		}
	}
	e.mustHold()
}

// TestOperatorMove moves an organization to another deployment while its
// admin reads and writes records over HTTP, watches the move's progress,
// and checks that requests reach the right deployment during and after it.
func TestOperatorMove(t *testing.T) {
	e, east := newOperatorEnv(t, operatorToken)
	a := e.tenant("acme")
	e.tenant("beta") // placement: acme on east (fewest, by name), beta on main
	r := e.op("POST", "/operator/moves", map[string]string{"organization_name": "acme", "deployment": "east"})
	r.isProblem(t, 409) // it is there already
	var ids []string
	for i := range 120 {
		ids = append(ids, e.record(a, fmt.Sprintf(`{"i":%d}`, i)))
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var written []string
	statuses := map[int]int{}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			rd := e.call("GET", "/org/records/"+ids[i%len(ids)], a.token, nil)
			wr := e.call("POST", "/org/records", a.token, fmt.Sprintf(`{"during":%d}`, i))
			time.Sleep(5 * time.Millisecond) // a steady stream, not a flood
			mu.Lock()
			statuses[rd.Status]++
			statuses[wr.Status+1000]++
			if wr.Status == 201 {
				written = append(written, wr.JSON["id"].(string))
			}
			mu.Unlock()
		}
	})

	r = e.op("POST", "/operator/moves", map[string]string{"organization_name": "ACME", "deployment": "main", "tenancy": "database"}).mustStatus(t, 202)
	if r.Header.Get("Location") != "/operator/moves/acme" || r.JSON["to"].(map[string]any)["deployment"] != "main" {
		t.Errorf("start: %v %s", r.Header, r.Raw)
	}
	e.op("POST", "/operator/moves", map[string]string{"organization_name": "acme", "deployment": "main"}).isProblem(t, 409)
	var phases []string
	deadline := time.Now().Add(time.Minute)
	for {
		r = e.op("GET", "/operator/moves/acme", nil).mustStatus(t, 200)
		if p := r.JSON["phase"].(string); len(phases) == 0 || phases[len(phases)-1] != p {
			phases = append(phases, p)
		}
		if r.JSON["done"] == true || time.Now().After(deadline) {
			break
		}
		if len(e.op("GET", "/operator/moves", nil).mustStatus(t, 200).JSON["moves"].([]any)) != 1 &&
			e.op("GET", "/operator/moves/acme", nil).JSON["done"] != true {
			t.Error("the move is not listed while it runs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // writes after the move
	stop.Store(true)
	wg.Wait()
	t.Logf("phases seen %v; outcome %s; statuses during the move %v", phases, r.Raw, statuses)
	if r.JSON["phase"] != "moved" || r.JSON["documents_total"].(float64) < 120 || r.JSON["checksum"] == "" {
		t.Fatalf("move outcome: %s\nlogs:\n%s", r.Raw, e.logs.String())
	}
	if statuses[200] == 0 || len(statuses) > 4 || statuses[1201] == 0 {
		t.Errorf("requests during the move: %v; want reads 200 and writes 201 (or 409 while paused)", statuses)
	}
	for s := range statuses {
		if s != 200 && s != 1201 && s != 1409 {
			t.Errorf("status %d during the move", s%1000)
		}
	}

	// After: the organization says where it is, and every record is there.
	g := e.call("GET", "/org/get?organization_name=acme", a.token, nil).mustStatus(t, 200)
	if g.JSON["deployment"] != "main" || g.JSON["tenancy"] != "database" {
		t.Errorf("after the move: %s", g.Raw)
	}
	for _, id := range append(ids, written...) {
		e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200)
	}
	n, err := e.db.Client.Database(e.db.Prefix+"org_acme").Collection("org_acme").CountDocuments(context.Background(), bson.D{})
	if err != nil || int(n) != len(ids)+len(written) {
		t.Errorf("main holds %d records of acme, want %d (%v)", n, len(ids)+len(written), err)
	}
	if left, _ := east.Database(e.db.TenantDB).Collection("org_acme").CountDocuments(context.Background(), bson.D{}); left != 0 {
		t.Errorf("east still holds %d records of acme", left)
	}
	e.call("POST", "/org/records", a.token, `{"after":true}`).mustStatus(t, 201)
	e.op("GET", "/operator/moves/beta", nil).isProblem(t, 404)
	e.op("POST", "/operator/moves", map[string]string{"organization_name": "nobody", "deployment": "main"}).isProblem(t, 404)
	e.op("POST", "/operator/moves", map[string]string{"organization_name": "beta", "deployment": "west"}).isProblem(t, 422)
	e.op("POST", "/operator/moves", map[string]string{"organization_name": "beta", "tenancy": "shared"}).isProblem(t, 422)
	e.mustHold()
	if strings.Contains(e.logs.String(), operatorToken) {
		t.Error("the operator credential was logged")
	}
}

// TestReadsDuringAMovePause checks that an organization whose move pauses its
// writes is served to readers, by name and by token alike.
func TestReadsDuringAMovePause(t *testing.T) {
	e, _ := newOperatorEnv(t, operatorToken)
	a := e.tenant("acme")
	paused, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.store.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if op == "move" && step == "verify" {
			once.Do(func() { close(paused); <-release })
		}
		return nil
	}})
	from := e.call("GET", "/org/get?organization_name=acme", "", nil).mustStatus(t, 200).JSON["deployment"].(string)
	to := map[string]string{"main": "east", "east": "main"}[from]
	e.op("POST", "/operator/moves", map[string]string{"organization_name": "acme", "deployment": to}).mustStatus(t, 202)
	select {
	case <-paused:
	case <-time.After(20 * time.Second):
		t.Fatal("the move did not reach its pause")
	}
	byName := e.call("GET", "/org/get?organization_name=acme", a.token, nil)
	byToken := e.call("GET", "/org/get", a.token, nil)
	close(release)
	for what, r := range map[string]response{"by name": byName, "by token": byToken} {
		if r.Status != 200 {
			t.Errorf("GET /org/get %s during the pause: %d %s", what, r.Status, r.Raw)
		}
	}
}

// TestUndoneMoveReportsItsPause fails a move while it pauses the
// organization's writes: its outcome still says how long they were paused.
func TestUndoneMoveReportsItsPause(t *testing.T) {
	e, _ := newOperatorEnv(t, operatorToken)
	a := e.tenant("acme")
	e.record(a, `{"x":1}`)
	e.store.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if op == "move" && step == "verify" { // writes are paused here
			time.Sleep(300 * time.Millisecond)
			return errors.New("the copy does not match")
		}
		return nil
	}})
	e.op("POST", "/operator/moves", map[string]string{"organization_name": "acme", "tenancy": "database"}).mustStatus(t, 202)
	var r response
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = e.op("GET", "/operator/moves/acme", nil).mustStatus(t, 200); r.JSON["done"] == true {
			break
		}
	}
	if r.JSON["phase"] != "undone" {
		t.Fatalf("outcome: %s", r.Raw)
	}
	if ms := r.JSON["writes_paused_ms"].(float64); ms < 300 {
		t.Errorf("writes_paused_ms %v for a pause of at least 300 ms: %s", ms, r.Raw)
	}
}
