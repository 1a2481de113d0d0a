package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestIsolationMatrix aims organization A's token at organization B's
// records and name through every endpoint, and checks that each is refused
// and that B's data is byte-for-byte unchanged.
func TestIsolationMatrix(t *testing.T) {
	e := newEnv(t)
	a, b := e.tenant("alpha"), e.tenant("beta")
	var aIDs, bIDs []string
	for i := range 5 {
		aIDs = append(aIDs, e.record(a, fmt.Sprintf(`{"owner":"alpha","i":%d}`, i)))
		bIDs = append(bIDs, e.record(b, fmt.Sprintf(`{"owner":"beta","i":%d,"secret":"b-%d"}`, i, i)))
	}
	bDocs, bExport := e.rawDocs("org_beta"), e.call("GET", "/org/export", b.token, nil).Raw

	type attempt struct {
		name, method, path, body string
		status                   int
	}
	var attempts []attempt
	for _, id := range bIDs {
		attempts = append(attempts,
			attempt{"get by id", "GET", "/org/records/" + id, "", 404},
			attempt{"replace by id", "PUT", "/org/records/" + id, `{"owner":"alpha"}`, 404},
			attempt{"patch by id", "PATCH", "/org/records/" + id, `{"secret":null}`, 404},
			attempt{"delete by id", "DELETE", "/org/records/" + id, "", 404},
		)
	}
	attempts = append(attempts,
		attempt{"delete B by name", "DELETE", "/org/delete?organization_name=beta", "", 403},
		attempt{"rename onto B's name", "PUT", "/org/update", `{"organization_name":"BETA"}`, 409},
		attempt{"take B's email", "PUT", "/org/update", `{"email":"beta@x.test"}`, 409},
	)
	for _, at := range attempts {
		var body any
		if at.body != "" {
			body = at.body
		}
		r := e.call(at.method, at.path, a.token, body)
		r.isProblem(t, at.status)
		if strings.Contains(r.Raw, "secret") || strings.Contains(r.Raw, "b-") {
			t.Errorf("%s: the answer shows B's data: %s", at.name, r.Raw)
		}
	}

	// Listing, by cursor and by filter, and exporting show only A's records.
	listed := func(path string) []string {
		r := e.call("GET", path, a.token, nil).mustStatus(t, 200)
		var ids []string
		for _, x := range r.JSON["records"].([]any) {
			ids = append(ids, x.(map[string]any)["id"].(string))
		}
		return ids
	}
	for _, path := range []string{"/org/records", "/org/records?after=" + bIDs[0], "/org/records?where.owner=beta",
		"/org/records?where.secret=b-1", "/org/records?limit=1000&after="} {
		for _, id := range listed(path) {
			if !slices.Contains(aIDs, id) {
				t.Errorf("%s listed %s, which is not A's", path, id)
			}
		}
	}
	if got := listed("/org/records?where.owner=beta"); len(got) != 0 {
		t.Errorf("filter on B's values listed %v", got)
	}
	exp := e.call("GET", "/org/export", a.token, nil).mustStatus(t, 200).Raw
	if strings.Contains(exp, "beta") || strings.Count(exp, "\n") != 5 {
		t.Errorf("A's export holds B's data or misses A's:\n%s", exp)
	}
	// Importing lines carrying B's ids gives A records of its own.
	var lines []string
	for _, id := range bIDs {
		lines = append(lines, fmt.Sprintf(`{"id":%q,"owner":"alpha-import"}`, id))
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/org/import", strings.NewReader(strings.Join(lines, "\n")))
	req.Header.Set("Authorization", "Bearer "+a.token)
	if r := e.do(req).mustStatus(t, 200); r.JSON["imported"] != float64(5) {
		t.Errorf("import: %s", r.Raw)
	}
	// The public view of B shows no admin email to A.
	if r := e.call("GET", "/org/get?organization_name=beta", a.token, nil).mustStatus(t, 200); r.JSON["admin_email"] != nil {
		t.Errorf("A sees B's admin email: %s", r.Raw)
	}

	if got := e.rawDocs("org_beta"); !slices.Equal(got, bDocs) {
		t.Errorf("B's documents changed:\nbefore %v\nafter  %v", bDocs, got)
	}
	if got := e.call("GET", "/org/export", b.token, nil).Raw; got != bExport {
		t.Error("B's export changed")
	}

	// A deleted organization's token reaches nothing.
	e.call("DELETE", "/org/delete?organization_name=alpha", a.token, nil).mustStatus(t, 204)
	for _, at := range []attempt{
		{"get", "GET", "/org/records/" + bIDs[0], "", 401}, {"list", "GET", "/org/records", "", 401},
		{"create", "POST", "/org/records", `{"x":1}`, 401}, {"export", "GET", "/org/export", "", 401},
		{"import", "POST", "/org/import", `{"x":1}`, 401}, {"delete", "DELETE", "/org/records/" + bIDs[0], "", 401},
		{"patch", "PATCH", "/org/records/" + bIDs[0], `{"x":1}`, 401}, {"replace", "PUT", "/org/records/" + bIDs[0], `{"x":1}`, 401},
	} {
		var body any
		if at.body != "" {
			body = at.body
		}
		e.call(at.method, at.path, a.token, body).isProblem(t, at.status)
	}
	if got := e.rawDocs("org_beta"); !slices.Equal(got, bDocs) {
		t.Error("B's documents changed after A's deletion")
	}
}
