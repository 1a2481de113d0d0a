package api

import (
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
	"github.com/orgd/orgd/console"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"
)

// routes registers every route; this is the one place to see them all.
func (s *Server) routes() {
	huma.Register(s.api, failing(s.public("POST", "/org/create", 201, "Create an organization"), 409, 413, 415, 503), s.handleCreateOrg)
	huma.Register(s.api, s.optional(failing(s.public("GET", "/org/get", 200, "Get an organization", s.optionalAdmin), 401, 404, 503)), s.handleGetOrg)
	huma.Register(s.api, failing(s.admin("PUT", "/org/update", 200, "Update your organization"), 409, 413, 415), s.handleUpdateOrg)
	huma.Register(s.api, failing(s.admin("DELETE", "/org/delete", 204, "Delete your organization"), 403, 404, 409), s.handleDeleteOrg)
	huma.Register(s.api, failing(s.public("POST", "/admin/login", 200, "Log in as an organization admin"), 401, 413, 415, 429, 503), s.handleLogin)
	huma.Register(s.api, failing(s.public("POST", "/admin/refresh", 200, "Exchange a refresh token for new tokens"), 401, 413, 415, 503), s.handleRefresh)
	huma.Register(s.api, s.admin("POST", "/admin/logout", 204, "Log out: revoke this login's tokens"), s.handleLogout)
	huma.Register(s.api, s.admin("GET", "/org/audit", 200, "Your organization's audit log, newest first"), s.handleAudit)
	huma.Register(s.api, s.public("GET", "/.well-known/jwks.json", 200, "Public keys that verify access tokens"), s.handleJWKS)

	huma.Register(s.api, s.document(failing(s.admin("POST", "/org/records", 201, "Create a record"), 400, 409, 413, 415)), s.handleCreateRecord)
	huma.Register(s.api, s.openQuery(failing(s.admin("GET", "/org/records", 200, "List records in id order"), 409), "where."), s.handleListRecords)
	huma.Register(s.api, failing(s.admin("GET", "/org/records/{id}", 200, "Get a record"), 404, 409), s.handleGetRecord)
	huma.Register(s.api, s.document(failing(s.admin("PUT", "/org/records/{id}", 200, "Replace a record"), 400, 404, 409, 413, 415)), s.handleReplaceRecord)
	huma.Register(s.api, s.document(failing(s.admin("PATCH", "/org/records/{id}", 200, "Update a record with a JSON merge patch"), 400, 404, 409, 413, 415)), s.handlePatchRecord)
	huma.Register(s.api, failing(s.admin("DELETE", "/org/records/{id}", 204, "Delete a record"), 404, 409), s.handleDeleteRecord)
	huma.Register(s.api, failing(s.admin("GET", "/org/export", 200, "Export every record as NDJSON"), 409), s.handleExport)
	huma.Register(s.api, s.withBody(failing(s.admin("POST", "/org/import", 200, "Import records from NDJSON"), 400, 408, 409, 413, 415), "application/x-ndjson"), s.handleImport)
	s.documentRecords()

	s.operatorRoutes()

	// Probes may add what they like to the query.
	huma.Register(s.api, s.openQuery(s.public("GET", "/healthz", 200, "Liveness: the process answers"), ""), s.handleHealthz)
	huma.Register(s.api, s.openQuery(s.public("GET", "/readyz", 200, "Readiness: the database answers"), ""), s.handleReadyz)

	// The admin console: static files calling the API above from the browser.
	c := console.New()
	s.mux.Handle("GET /console/{$}", problemNotFound(c))
	for _, name := range c.Files() {
		s.mux.Handle("GET /console/"+name, problemNotFound(c))
	}
	s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))

	s.opsRoutes(s.opsMx)
}

// opsRoutes registers what operators and developers read, on the public mux
// or on the admin listener's (ORGD_ADMIN_ADDR): the docs, the OpenAPI
// document and the metrics.
func (s *Server) opsRoutes(mux *http.ServeMux) {
	docs := swgui.Config{}
	if s.SeparateAdmin {
		// "Try it out" would send requests to the admin listener, which
		// serves no API route: the page documents, it does not call.
		docs.SettingsUI = map[string]string{"supportedSubmitMethods": "[]"}
	}
	mux.Handle("GET /docs/", problemNotFound(v5emb.NewWithConfig(docs)("orgd API", "/openapi.json", "/docs/")))
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	for _, spec := range openAPISpecs(s.api.OpenAPI()) {
		mux.Handle("GET "+spec.path, spec)
	}
	if s.MetricsHandler != nil {
		mux.Handle("GET /metrics", s.MetricsHandler)
	}
}

// maxBody bounds a request's JSON body, a record's or any other (an import
// streams its own). A record is at most RecordMaxBytes without its id, and a
// record read back, id included, must be writable as it is.
const maxBody = orgd.RecordMaxBytes + 64

// public describes an operation anyone may call.
func (s *Server) public(method, path string, status int, summary string, mw ...func(huma.Context, func(huma.Context))) huma.Operation {
	return huma.Operation{
		OperationID:   strings.ToLower(method) + strings.ReplaceAll(path, "/", "-"),
		Method:        method,
		Path:          path,
		Summary:       summary,
		DefaultStatus: status,
		Middlewares:   append(mw, s.strictQuery), // after authentication: a 401 comes first
		// huma's own limit on reading a body (5 s unless set) would replace
		// the server's ReadTimeout; -1 asks it to clear the deadline, which
		// guardWriter does not let it do.
		BodyReadTimeout: -1,
		MaxBodyBytes:    maxBody + 1, // huma refuses a body that reaches its limit
	}
}

// openQuery marks an operation that also takes any query parameter whose
// name starts with prefix ("": any); strictQuery refuses other undeclared ones.
func (s *Server) openQuery(o huma.Operation, prefix string) huma.Operation {
	o.Metadata = map[string]any{openQuery: prefix}
	return o
}

// document marks an operation whose body is a free-form record: the store
// validates it (huma's schema validation would see only bytes).
func (s *Server) document(o huma.Operation) huma.Operation {
	o.SkipValidateBody = true
	return o
}

// withBody documents a request body that the handler reads as a stream.
func (s *Server) withBody(o huma.Operation, contentType string) huma.Operation {
	o.RequestBody = &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
		contentType: {Schema: &huma.Schema{Type: "string", Description: "One JSON object per line"}},
	}}
	return o
}

// optional marks an operation that takes an admin's bearer token but does
// not need one.
func (s *Server) optional(o huma.Operation) huma.Operation {
	o.Security = []map[string][]string{{}, {"bearer": {}}}
	return o
}

// admin describes an operation that needs an organization admin's bearer token.
func (s *Server) admin(method, path string, status int, summary string) huma.Operation {
	o := s.public(method, path, status, summary, s.requireAdmin)
	o.Security = []map[string][]string{{"bearer": {}}}
	o.Errors = []int{401, 503}
	return o
}

// failing documents more statuses an operation may answer with.
func failing(o huma.Operation, statuses ...int) huma.Operation {
	o.Errors = append(o.Errors, statuses...)
	return o
}
