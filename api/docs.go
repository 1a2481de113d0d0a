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
