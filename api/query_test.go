package api_test

import (
	"testing"
)

// TestQueryParameters checks that a query parameter an operation does not
// take, or a second value of one it takes once, is refused and named rather
// than ignored: a misspelled filter would list every record, and a delete
// naming two organizations would act on one of them.
func TestQueryParameters(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	e.tenant("beta")
	e.record(a, `{"status":"active"}`)
	tests := []struct {
		name, method, path, token string
		status                    int
		field                     string
	}{
		{"misspelled filter", "GET", "/org/records?WHERE.status=sold", a.token, 422, "query.WHERE.status"},
		{"unknown parameter", "GET", "/org/records?foo=1", a.token, 422, "query.foo"},
		{"a single value given twice", "GET", "/org/records?limit=2&limit=1", a.token, 422, "query.limit"},
		{"two organizations to delete", "DELETE", "/org/delete?organization_name=acme&organization_name=beta", a.token, 422, "query.organization_name"},
		{"two organizations to get", "GET", "/org/get?organization_name=acme&organization_name=beta", "", 422, "query.organization_name"},
		{"a parameter where none is taken", "POST", "/admin/logout?all=1", a.token, 422, "query.all"},
		{"authentication first", "GET", "/org/records?foo=1", "", 401, ""},
		{"a filter given twice", "GET", "/org/records?where.status=active&where.status=sold", a.token, 200, ""},
		{"probes take anything", "GET", "/healthz?probe=1", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.method, tt.path, tt.token, nil)
			if tt.status == 200 {
				r.mustStatus(t, 200)
				return
			}
			r.isProblem(t, tt.status)
			if tt.field != "" && !hasErrorAt(r, tt.field) {
				t.Errorf("errors do not name %s: %s", tt.field, r.Raw)
			}
		})
	}
	e.call("GET", "/org/get?organization_name=acme", "", nil).mustStatus(t, 200) // neither was deleted
	e.call("GET", "/org/get?organization_name=beta", "", nil).mustStatus(t, 200)
}
