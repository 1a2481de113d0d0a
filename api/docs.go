package api

import (
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// spec serves the OpenAPI document in one format.
type spec struct {
	path, contentType string
	render            func() ([]byte, error)
}

// openAPISpecs are the OpenAPI document's formats, as huma would serve them;
// orgd serves them itself so that they can move to the admin listener.
func openAPISpecs(o *huma.OpenAPI) []spec {
	return []spec{
		{"/openapi.json", "application/openapi+json", func() ([]byte, error) { return json.Marshal(o) }},
		{"/openapi.yaml", "application/openapi+yaml", o.YAML},
		{"/openapi-3.0.json", "application/openapi+json", o.Downgrade},
		{"/openapi-3.0.yaml", "application/openapi+yaml", o.DowngradeYAML},
	}
}

func (sp spec) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := sp.render() // rendered per request: cheap, and never stale
	if err != nil {
		writeProblem(w, r, http.StatusInternalServerError, "Internal error.")
		return
	}
	w.Header().Set("Content-Type", sp.contentType)
	_, _ = w.Write(b)
}

// documentRequestID adds request_id to the documented problem schema.
func documentRequestID(o *huma.OpenAPI) {
	if o.Components == nil || o.Components.Schemas == nil {
		return
	}
	if em := o.Components.Schemas.Map()["ErrorModel"]; em != nil && em.Properties != nil {
		em.Properties["request_id"] = &huma.Schema{Type: "string", Description: "The request's id, also in the X-Request-ID response header: quote it when reporting a problem.", Examples: []any{"NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63I"}}
	}
}

// documentRecords describes what huma sees only as bytes: record bodies and
// answers as JSON objects, a page of them, the export's NDJSON, the JWKS.
func (s *Server) documentRecords() {
	paths := s.api.OpenAPI().Paths
	record := &huma.Schema{Type: "object", Description: "Any JSON object of at most 1 MiB, nested at most 32 deep, at most 1,000 fields in any object; " +
		"field names must not start with '$' or contain '.'; in a request, id and _id are ignored; in an answer, id comes first"}
	json := func(schema *huma.Schema) map[string]*huma.MediaType {
		return map[string]*huma.MediaType{"application/json": {Schema: schema}}
	}
	for _, o := range []*huma.Operation{paths["/org/records"].Post, paths["/org/records/{id}"].Put, paths["/org/records/{id}"].Patch} {
		o.RequestBody.Content = json(record)
		if o.Method == "PATCH" {
			o.RequestBody.Content["application/merge-patch+json"] = &huma.MediaType{Schema: record}
		}
	}
	paths["/org/records"].Post.Responses["201"].Content = json(record)
	for _, o := range []*huma.Operation{paths["/org/records/{id}"].Get, paths["/org/records/{id}"].Put, paths["/org/records/{id}"].Patch} {
		o.Responses["200"].Content = json(record)
	}
	list := paths["/org/records"].Get
	list.Responses["200"].Content = json(&huma.Schema{Type: "object", Required: []string{"records", "next"}, Properties: map[string]*huma.Schema{
		"records": {Type: "array", Items: record},
		"next":    {Type: "string", Nullable: true, Description: "The after of the next page; null on the last"},
	}})
	list.Description = "Filter with where.<field>=<value> (any top-level field, repeatable; every filter must match): " +
		"the value matches that string and the JSON number, boolean or null it spells, or an element of an array."
	paths["/org/export"].Get.Responses["200"].Content = map[string]*huma.MediaType{
		"application/x-ndjson": {Schema: &huma.Schema{Type: "string", Description: "One record per line, as JSON"}}}
	paths["/.well-known/jwks.json"].Get.Responses["200"].Content = map[string]*huma.MediaType{
		"application/jwk-set+json": {Schema: &huma.Schema{Type: "object", Required: []string{"keys"}, Properties: map[string]*huma.Schema{
			"keys": {Type: "array", Items: &huma.Schema{Type: "object", Description: "A public key (RFC 7517)"}}}}}}
}
