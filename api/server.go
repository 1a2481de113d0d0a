// Package api serves orgd's HTTP API: routes, handlers, authentication and
// RFC 9457 problem responses.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/orgd/orgd"
	"github.com/orgd/orgd/auth"
)

// Store is what the API needs from storage.
type Store interface {
	CreateOrganization(ctx context.Context, name, email, passwordHash string) (*orgd.Organization, error)
	OrganizationByName(ctx context.Context, name string) (*orgd.Organization, error)
	OrganizationByID(ctx context.Context, id string) (*orgd.Organization, error)
	UpdateOrganization(ctx context.Context, orgID string, upd orgd.OrganizationUpdate) (*orgd.Organization, error)
	DeleteOrganizationNamed(ctx context.Context, orgID, name string) error
	AdminByID(ctx context.Context, id string) (*orgd.Admin, error)
	AdminFromDB(ctx context.Context, id string) (*orgd.Admin, error)
	AdminByEmail(ctx context.Context, email string) (*orgd.Admin, error)
	Ping(ctx context.Context) error
}

// Tokens issues and verifies access tokens.
type Tokens interface {
	IssueUntil(adminID, orgID, sessionID string, end time.Time) (string, auth.Claims, error)
	Verify(token string) (auth.Claims, error)
	TTL() time.Duration
	JWKS() []byte
}

// Passwords hashes and checks passwords.
type Passwords interface {
	Hash(ctx context.Context, password string) (string, error)
	Check(ctx context.Context, hash, password string) (bool, error)
}

// HashGate learns when requests that need no password hash end: while
// they are being served, hashes leave them a CPU. *auth.Gate implements it.
type HashGate interface {
	Served(at time.Time)
}

// Deps are the server's collaborators.
type Deps struct {
	Store     Store
	Records   RecordStore
	Tokens    Tokens
	Passwords Passwords
	// HashGate, if set, is told of every request that asked for no hash.
	HashGate HashGate
	Logger   *slog.Logger
	Version  string
	// Operator serves the operator endpoints, reached only with OperatorToken
	// (empty: they answer 401); nil leaves them out.
	Operator      Operator
	OperatorToken string

	// Sessions and Audit default to Store, which must then provide them.
	Sessions Sessions
	Audit    Audit
	// Throttle limits failed logins; nil means auth's default limits.
	Throttle Throttle
	Security Security
	Now      func() time.Time // the clock; nil means time.Now

	// Metrics records every request; nil records nothing.
	Metrics RequestMetrics
	// MetricsHandler serves GET /metrics; nil serves no metrics.
	MetricsHandler http.Handler
	// SeparateAdmin serves the metrics and the docs from AdminHandler only,
	// for a listen address of their own, instead of from Handler.
	SeparateAdmin bool
	// ImportIdle is how long an import waits for more of its body; 0 means
	// 30 s.
	ImportIdle time.Duration
	// ImportMaxBytes bounds an import's body; 0 means 256 MiB.
	ImportMaxBytes int64
}

// Server is orgd's HTTP API.
type Server struct {
	Deps
	api   huma.API
	mux   *http.ServeMux
	opsMx *http.ServeMux // docs and metrics: mux, or the admin listener's own
}

// NewServer builds the API with every route registered.
func NewServer(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	d = withDefaults(d)
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{Deps: d, mux: http.NewServeMux()}
	s.opsMx = s.mux
	if d.SeparateAdmin {
		s.opsMx = http.NewServeMux()
	}
	cfg := huma.DefaultConfig("orgd", d.Version)
	cfg.Info.Description = "Multi-tenant organization service."
	cfg.DocsPath = ""     // served offline by swgui instead, see routes
	cfg.SchemasPath = ""  // no $schema links in bodies
	cfg.CreateHooks = nil // (same)
	cfg.OpenAPIPath = ""  // served with the docs, see opsRoutes
	cfg.Transformers = []huma.Transformer{scrubErrors}
	cfg.Formats = map[string]huma.Format{"application/json": strictJSON(), "json": strictJSON()}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer":   {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
		"operator": {Type: "http", Scheme: "bearer", Description: "The operator credential (ORGD_OPERATOR_TOKEN_FILE), never an organization admin's token"},
	}
	s.api = humago.New(s.mux, cfg)
	s.routes()
	documentRequestID(s.api.OpenAPI())
	return s
}

// Handler returns the root handler: the routes plus problem+json answers for
// unknown routes and methods, security headers and CORS, panic recovery,
// request ids, the request log and metrics.
func (s *Server) Handler() http.Handler {
	return s.observe(s.mux, s.recoverer(s.hygiene(s.problemMux(s.mux))))
}

// AdminHandler serves the metrics and the docs when Deps.SeparateAdmin is
// set, and is nil otherwise.
func (s *Server) AdminHandler() http.Handler {
	if !s.SeparateAdmin {
		return nil
	}
	return s.observe(s.opsMx, s.recoverer(s.hygiene(s.problemMux(s.opsMx))))
}

func (s *Server) now() time.Time { return s.Now() }
