package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOpenAPIDescribesAnswers checks that the OpenAPI document describes
// what the server sends, where huma sees only bytes: records as objects, a
// page of them, the export as NDJSON, the JWKS as a key set; that it lists
// the statuses a client meets; that a token may go with GET /org/get; and
// that its OpenAPI 3.0 form holds only 3.0 keywords.
func TestOpenAPIDescribesAnswers(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Security  []map[string][]string `json:"security"`
			Responses map[string]struct {
				Content map[string]struct {
					Schema struct {
						Type       any            `json:"type"`
						Properties map[string]any `json:"properties"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(e.call("GET", "/openapi.json", "", nil).mustStatus(t, 200).Raw), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, method, status, contentType, typ string }{
		{"/org/records", "post", "201", "application/json", "object"},
		{"/org/records", "get", "200", "application/json", "object"},
		{"/org/records/{id}", "get", "200", "application/json", "object"},
		{"/org/records/{id}", "put", "200", "application/json", "object"},
		{"/org/records/{id}", "patch", "200", "application/json", "object"},
		{"/org/export", "get", "200", "application/x-ndjson", "string"},
		{"/.well-known/jwks.json", "get", "200", "application/jwk-set+json", "object"},
	} {
		if got := doc.Paths[tt.path][tt.method].Responses[tt.status].Content[tt.contentType].Schema.Type; got != tt.typ {
			t.Errorf("%s %s %s as %s: type %v, want %s", tt.method, tt.path, tt.status, tt.contentType, got, tt.typ)
		}
	}
	if p := doc.Paths["/org/records"]["get"].Responses["200"].Content["application/json"].Schema.Properties; p["records"] == nil || p["next"] == nil {
		t.Errorf("a page of records is described with %v", p)
	}
	for _, tt := range []struct{ path, method, status string }{
		{"/org/records/{id}", "get", "404"}, {"/org/delete", "delete", "403"}, {"/org/update", "put", "409"},
		{"/org/records", "post", "413"}, {"/admin/login", "post", "429"}, {"/org/records", "get", "503"},
	} {
		if _, ok := doc.Paths[tt.path][tt.method].Responses[tt.status]; !ok {
			t.Errorf("%s %s does not list %s", tt.method, tt.path, tt.status)
		}
	}
	if sec := doc.Paths["/org/get"]["get"].Security; len(sec) != 2 || len(sec[0]) != 0 || sec[1]["bearer"] == nil {
		t.Errorf("GET /org/get security %v, want none or a bearer token", sec)
	}
	if v30 := e.call("GET", "/openapi-3.0.json", "", nil).mustStatus(t, 200).Raw; strings.Contains(v30, "patternDescription") {
		t.Error("the OpenAPI 3.0 document uses patternDescription, which 3.0 does not have")
	}
}
