package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// fieldsJSON is a JSON object with n fields named from prefix.
func fieldsJSON(prefix string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"%s%d":%d`, prefix, i, i)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestObjectFieldLimit checks that no write, import or patch included, can
// store an object with more than 1,000 fields, and that the error names it.
func TestObjectFieldLimit(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	id := e.record(a, fieldsJSON("k", 1000))
	wide := `{"m":` + fieldsJSON("k", 1001) + `}`
	tests := []struct {
		name, method, path, body, field string
	}{
		{"create, the record", "POST", "/org/records", fieldsJSON("k", 1001), "body"},
		{"create, a nested object", "POST", "/org/records", wide, "body.m"},
		{"create, an object in an array", "POST", "/org/records", `{"l":[1,` + fieldsJSON("k", 1001) + `]}`, "body.l.1"},
		{"replace", "PUT", "/org/records/" + id, wide, "body.m"},
		{"patch", "PATCH", "/org/records/" + id, `{"m":` + fieldsJSON("k", 1001) + `}`, "body.m"},
		// Neither the record (1,000 fields) nor the patch (1) is too wide;
		// the patched record would be.
		{"patch that adds a field", "PATCH", "/org/records/" + id, `{"one more":1}`, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.method, tt.path, a.token, tt.body)
			r.isProblem(t, 422)
			if !hasErrorAt(r, tt.field) || !strings.Contains(string(r.Raw), "more than 1000 fields") {
				t.Errorf("errors do not name %s: %s", tt.field, r.Raw)
			}
		})
	}
	e.call("PATCH", "/org/records/"+id, a.token, `{"k0":null,"one more":1}`).mustStatus(t, 200)

	r := e.importLines(a.token, `{"a":1}`+"\n"+wide+"\n").mustStatus(t, 200)
	if r.JSON["imported"] != float64(1) || !strings.Contains(string(r.Raw), `"line":2`) {
		t.Errorf("import of a line with a 1,001-field object: %s", r.Raw)
	}
	if n := len(e.rawDocs("org_acme")); n != 2 {
		t.Errorf("%d records stored, want 2", n)
	}
}
