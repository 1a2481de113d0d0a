package api_test

import (
	"fmt"
	"net/http"
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

	// A record of 1,000 fields as read back, its "id" besides, is written
	// back and imported as it is.
	got := e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200)
	e.call("PUT", "/org/records/"+id, a.token, got.Raw).mustStatus(t, 200)
	req, _ := http.NewRequest("GET", e.srv.URL+"/org/export", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	exported := e.do(req).mustStatus(t, 200)
	e.call("DELETE", "/org/records/"+id, a.token, nil).mustStatus(t, 204)
	if r := e.importLines(a.token, exported.Raw).mustStatus(t, 200); r.JSON["imported"] != float64(1) {
		t.Errorf("import of its own export: %.300s", r.Raw)
	}

	r := e.importLines(a.token, `{"a":1}`+"\n"+wide+"\n").mustStatus(t, 200)
	if r.JSON["imported"] != float64(1) || !strings.Contains(string(r.Raw), `"line":2`) {
		t.Errorf("import of a line with a 1,001-field object: %s", r.Raw)
	}
	if n := len(e.rawDocs("org_acme")); n != 2 {
		t.Errorf("%d records stored, want 2", n)
	}
}

// TestSurrogateEscapes checks that a \u escape of half a UTF-16 surrogate
// pair is refused, not stored as U+FFFD, and that whole pairs are kept.
func TestSurrogateEscapes(t *testing.T) {
	e := newEnv(t)
	a := e.tenant("acme")
	tests := []struct {
		name, body string
		status     int
		want       string // the value of "a" read back
	}{
		{"high alone", `{"a":"x\ud800y"}`, 400, ""},
		{"low alone", `{"a":"\udc00"}`, 400, ""},
		{"high then another escape", `{"a":"\ud800\u0041"}`, 400, ""},
		{"in a field name", `{"\ud800":1}`, 400, ""},
		{"at the end of the body", `{"a":1,"b":"\udbff`, 400, ""},
		{"a pair", `{"a":"\ud83d\ude00"}`, 201, "😀"},
		{"an escaped backslash before u", `{"a":"\\ud800"}`, 201, `\ud800`},
		{"U+FFFD itself", `{"a":"\ufffd"}`, 201, "\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call("POST", "/org/records", a.token, tt.body)
			if tt.status != 201 {
				r.isProblem(t, tt.status)
				return
			}
			id, _ := r.mustStatus(t, 201).JSON["id"].(string)
			if got := e.call("GET", "/org/records/"+id, a.token, nil).mustStatus(t, 200).JSON["a"]; got != tt.want {
				t.Errorf("read back %q, want %q", got, tt.want)
			}
		})
	}
	r := e.importLines(a.token, `{"a":1}`+"\n"+`{"a":"\ud800"}`+"\n").mustStatus(t, 200)
	if r.JSON["imported"] != float64(1) || !strings.Contains(string(r.Raw), `"line":2`) {
		t.Errorf("import of a line with a lone surrogate: %s", r.Raw)
	}
}
