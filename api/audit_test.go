package api_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/mongodb"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// events returns one page of the audit log seen with token.
func (e *env) events(token, query string) []map[string]any {
	e.t.Helper()
	r := e.call("GET", "/org/audit?limit=200"+query, token, nil).mustStatus(e.t, 200)
	return eventList(r)
}

func eventList(r response) []map[string]any {
	var out []map[string]any
	list, _ := r.JSON["events"].([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		out = append(out, m)
	}
	return out
}

func find(events []map[string]any, typ string) map[string]any {
	for _, ev := range events {
		if ev["type"] == typ {
			return ev
		}
	}
	return nil
}

func count(events []map[string]any, typ, outcome string) int {
	n := 0
	for _, ev := range events {
		if ev["type"] == typ && ev["outcome"] == outcome {
			n++
		}
	}
	return n
}

// TestAuditLog runs every audited event through the API and reads the log
// back: each event with its time, actor, client address, request id and
// outcome, newest first, in pages, only by the organization's own admin,
// kept after a delete for the retention period but readable by no one, and
// never holding a password, hash or token.
func TestAuditLog(t *testing.T) {
	e := newEnv(t, behindProxy)
	ctx := context.Background()
	e.create(acme).mustStatus(t, 201)
	e.create(org{"beta", "b@beta.test", "correct horse"}).mustStatus(t, 201)
	e.loginFrom("203.0.113.5", acme.email, "wrong password").isProblem(t, 401)
	req, _ := http.NewRequest("POST", e.srv.URL+"/admin/login", strings.NewReader(`{"email":"`+acme.email+`","password":"`+acme.password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "198.51.100.1, 127.0.0.1")
	req.Header.Set("X-Request-Id", "req-login-1")
	a := tokensOf(t, e.do(req).mustStatus(t, 200))
	a2 := tokensOf(t, e.refresh(a.refresh).mustStatus(t, 200))
	e.call("PUT", "/org/update", a2.access, map[string]string{"organization_name": "Acme2"}).mustStatus(t, 200)
	e.call("PUT", "/org/update", a2.access, map[string]string{"email": "new@acme.test"}).mustStatus(t, 200)
	b := e.loginTokens("new@acme.test", acme.password)
	e.call("POST", "/admin/logout", b.access, nil).mustStatus(t, 204)
	c := e.loginTokens("new@acme.test", acme.password)
	e.refresh(c.refresh).mustStatus(t, 200)
	e.refresh(c.refresh).isProblem(t, 401) // reuse
	e.call("DELETE", "/org/delete?organization_name=beta", a2.access, nil).isProblem(t, 403)
	e.call("PUT", "/org/update", a2.access, map[string]string{"password": "a new password"}).mustStatus(t, 200)
	d := e.loginTokens("new@acme.test", "a new password")

	events := e.events(d.access, "")
	want := []struct{ typ, outcome string }{
		{"organization.created", "success"}, {"auth.login", "failure"}, {"auth.login", "success"},
		{"auth.refresh", "success"}, {"organization.renamed", "success"}, {"admin.email_changed", "success"},
		{"auth.logout", "success"}, {"auth.token_reuse", "revoked"}, {"organization.deleted", "denied"},
		{"admin.password_changed", "success"},
	}
	for _, w := range want {
		if count(events, w.typ, w.outcome) == 0 {
			t.Errorf("no %s event with outcome %s", w.typ, w.outcome)
		}
	}
	for i, ev := range events {
		for _, k := range []string{"id", "time", "type", "actor", "client_address", "request_id", "outcome"} {
			if s, _ := ev[k].(string); s == "" {
				t.Errorf("event %v has no %s", ev, k)
			}
		}
		if i > 0 && ev["id"].(string) >= events[i-1]["id"].(string) {
			t.Errorf("events not newest first at %d: %v after %v", i, ev["id"], events[i-1]["id"])
		}
	}
	login := events[slices.IndexFunc(events, func(ev map[string]any) bool { return ev["request_id"] == "req-login-1" })]
	if login["type"] != "auth.login" || login["client_address"] != "198.51.100.1" || login["actor"] == "anonymous" {
		t.Errorf("login event %v", login)
	}
	if ev := find(events, "auth.login"); ev == nil {
		t.Error("no login event")
	}
	// Nobody authenticated: the admin is who was targeted, not who acted.
	failed := events[slices.IndexFunc(events, func(ev map[string]any) bool { return ev["outcome"] == "failure" })]
	if details, _ := failed["details"].(map[string]any); failed["client_address"] != "203.0.113.5" || failed["actor"] != "anonymous" ||
		details["admin_id"] != login["actor"] {
		t.Errorf("failed login event %v", failed)
	}
	if reuse := find(events, "auth.token_reuse"); reuse["actor"] != "anonymous" {
		t.Errorf("token reuse event %v", reuse)
	}
	if created := find(events, "organization.created"); created["actor"] != "anonymous" {
		t.Errorf("create event %v", created)
	}

	// Pages of three cover the same events, in the same order.
	var paged []map[string]any
	for after, pages := "", 0; ; pages++ {
		q := "/org/audit?limit=3"
		if after != "" {
			q += "&after=" + after
		}
		r := e.call("GET", q, d.access, nil).mustStatus(t, 200)
		page := eventList(r)
		if len(page) > 3 || pages > 20 {
			t.Fatalf("page of %d events", len(page))
		}
		paged = append(paged, page...)
		next, _ := r.JSON["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if len(paged) != len(events) {
		t.Errorf("paging saw %d events, the full list %d", len(paged), len(events))
	}
	for i := range min(len(paged), len(events)) {
		if paged[i]["id"] != events[i]["id"] {
			t.Fatalf("page order differs at %d", i)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?after=nope", "?after=8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "?limit=x"} {
		e.call("GET", "/org/audit"+q, d.access, nil).isProblem(t, 422)
	}
	e.call("GET", "/org/audit", "", nil).isProblem(t, 401)

	// Beta's admin sees beta's events only.
	beta := e.events(e.login("b@beta.test", "correct horse"), "")
	if len(beta) != 2 || find(beta, "organization.created") == nil || find(beta, "auth.login") == nil {
		t.Errorf("beta's log: %v", beta)
	}

	// After the delete the events stay, readable by no one, until the retention ends.
	acme2, err := e.store.OrganizationByName(ctx, "acme2")
	if err != nil {
		t.Fatal(err)
	}
	e.call("DELETE", "/org/delete?organization_name=acme2", d.access, nil).mustStatus(t, 204)
	kept := e.auditDocs(acme2.ID)
	if len(kept) < len(events)+1 {
		t.Errorf("%d events kept after the delete, want at least %d", len(kept), len(events)+1)
	}
	e.call("GET", "/org/audit", d.access, nil).isProblem(t, 401)
	e.create(org{"Acme2", "new@acme.test", "correct horse"}).mustStatus(t, 201)
	if again := e.events(e.login("new@acme.test", "correct horse"), ""); len(again) != 2 {
		t.Errorf("the new Acme2 sees %d events, want its own 2", len(again))
	}
	if _, err := e.store.PruneAuth(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := len(e.auditDocs(acme2.ID)); n != len(kept) {
		t.Errorf("pruning within the retention deleted events: %d left of %d", n, len(kept))
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := e.store.PruneAuth(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := len(e.auditDocs(acme2.ID)); n != 0 {
		t.Errorf("%d events of the deleted organization left after its retention", n)
	}
	if n := len(e.events(e.login("b@beta.test", "correct horse"), "")); n < 2 {
		t.Errorf("pruning deleted a live organization's events: %d left", n)
	}

	// No secret anywhere in the audit log.
	secrets := []string{acme.password, "a new password", "$2a$", "orgd_rt_", "eyJ"}
	for _, doc := range e.auditDocs("") {
		for _, s := range secrets {
			if strings.Contains(doc, s) {
				t.Errorf("audit event holds a secret (%.5s…): %s", s, doc)
			}
		}
	}
}

// auditDocs returns the stored audit events of orgID (all with "") as extended JSON.
func (e *env) auditDocs(orgID string) []string {
	e.t.Helper()
	filter := bson.D{}
	if orgID != "" {
		filter = bson.D{{Key: "org_id", Value: orgID}}
	}
	cur, err := e.db.Client.Database(e.db.MasterDB).Collection("audit_events").Find(context.Background(), filter)
	if err != nil {
		e.t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(context.Background(), &docs); err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = stringify(d)
	}
	return out
}

// TestRevocationAuditedWhenItFailsLate fails a logout, and a reuse's
// revocation, after the revocation is recorded (at publishing it): the
// client gets the error, but the login has ended, and the log says so.
func TestRevocationAuditedWhenItFailsLate(t *testing.T) {
	e := newEnv(t)
	e.create(acme).mustStatus(t, 201)
	reader := e.loginTokens(acme.email, acme.password)
	out := e.loginTokens(acme.email, acme.password)
	reused := e.loginTokens(acme.email, acme.password)
	e.refresh(reused.refresh).mustStatus(t, 200)
	e.store.SetHooks(mongodb.Hooks{BeforeStep: func(op, step string) error {
		if op == "revoke" && step == "publish" {
			return errors.New("the database went away")
		}
		return nil
	}})
	if r := e.call("POST", "/admin/logout", out.access, nil); r.Status < 500 {
		t.Fatalf("logout with its publication failing: %d %s", r.Status, r.Raw)
	}
	if r := e.refresh(reused.refresh); r.Status < 500 {
		t.Fatalf("reuse with its revocation's publication failing: %d %s", r.Status, r.Raw)
	}
	e.store.SetHooks(mongodb.Hooks{})
	if e.works(out.access) {
		t.Error("the logged-out token still works")
	}
	events := e.events(reader.access, "")
	if count(events, "auth.logout", "success") != 1 || count(events, "auth.token_reuse", "revoked") != 1 {
		t.Errorf("events %v: want the logout and the reuse", events)
	}
}
