package api_test

import (
	"strings"
	"testing"
)

// TestRecordIDsInEitherCase checks that a record id, a ULID, names its record
// in lower case as in upper case, on every route and as a list cursor, as
// the README says.
func TestRecordIDsInEitherCase(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	var ids []string
	for _, body := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		ids = append(ids, e.record(a, body))
	}
	lower := strings.ToLower(ids[0])
	e.call("GET", "/org/records/"+lower, a.token, nil).mustStatus(t, 200)
	e.call("PUT", "/org/records/"+lower, a.token, `{"n":10}`).mustStatus(t, 200)
	if r := e.call("PATCH", "/org/records/"+lower, a.token, `{"m":1}`).mustStatus(t, 200); r.JSON["id"] != ids[0] || r.JSON["n"] != float64(10) {
		t.Errorf("patched through the lower-case id: %s", r.Raw)
	}
	page := e.call("GET", "/org/records?limit=5&after="+lower, a.token, nil).mustStatus(t, 200)
	if got, _ := page.JSON["records"].([]any); len(got) != 2 {
		t.Errorf("the page after a lower-case cursor: %s, want the 2 later records", page.Raw)
	}
	e.call("DELETE", "/org/records/"+lower, a.token, nil).mustStatus(t, 204)
	e.call("GET", "/org/records/"+ids[0], a.token, nil).isProblem(t, 404)
}
