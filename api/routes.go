package api

import (
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/swaggest/swgui/v5emb"
)

// routes registers every route; this is the one place to see them all.
func (s *Server) routes() {
	huma.Register(s.api, s.public("POST", "/org/create", 201, "Create an organization"), s.handleCreateOrg)
	huma.Register(s.api, s.public("GET", "/org/get", 200, "Get an organization", s.optionalAdmin), s.handleGetOrg)
	huma.Register(s.api, s.admin("PUT", "/org/update", 200, "Update your organization"), s.handleUpdateOrg)
	huma.Register(s.api, s.admin("DELETE", "/org/delete", 204, "Delete your organization"), s.handleDeleteOrg)
	huma.Register(s.api, s.public("POST", "/admin/login", 200, "Log in as an organization admin"), s.handleLogin)

	huma.Register(s.api, s.public("GET", "/healthz", 200, "Liveness: the process answers"), s.handleHealthz)
	huma.Register(s.api, s.public("GET", "/readyz", 200, "Readiness: the database answers"), s.handleReadyz)

	s.opsRoutes(s.opsMx)
}

// opsRoutes registers what operators and developers read, on the public mux
// or on the admin listener's (ORGD_ADMIN_ADDR): the docs, the OpenAPI
// document and the metrics.
func (s *Server) opsRoutes(mux *http.ServeMux) {
	mux.Handle("GET /docs/", v5emb.New("orgd API", "/openapi.json", "/docs/"))
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	for _, spec := range openAPISpecs(s.api.OpenAPI()) {
		mux.Handle("GET "+spec.path, spec)
	}
	if s.MetricsHandler != nil {
		mux.Handle("GET /metrics", s.MetricsHandler)
	}
}

// public describes an operation anyone may call.
func (s *Server) public(method, path string, status int, summary string, mw ...func(huma.Context, func(huma.Context))) huma.Operation {
	return huma.Operation{
		OperationID:   strings.ToLower(method) + strings.ReplaceAll(path, "/", "-"),
		Method:        method,
		Path:          path,
		Summary:       summary,
		DefaultStatus: status,
		Middlewares:   mw,
	}
}

// admin describes an operation that needs an organization admin's bearer token.
func (s *Server) admin(method, path string, status int, summary string) huma.Operation {
	o := s.public(method, path, status, summary, s.requireAdmin)
	o.Security = []map[string][]string{{"bearer": {}}}
	o.Errors = []int{401}
	return o
}
