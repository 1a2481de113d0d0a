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
	DeleteOrganization(ctx context.Context, orgID string) error
	AdminByID(ctx context.Context, id string) (*orgd.Admin, error)
	AdminByEmail(ctx context.Context, email string) (*orgd.Admin, error)
	Ping(ctx context.Context) error
}

// Tokens issues and verifies access tokens.
type Tokens interface {
	Issue(adminID, orgID, sessionID string) (string, auth.Claims, error)
	Verify(token string) (auth.Claims, error)
	TTL() time.Duration
	JWKS() []byte
}

// Passwords hashes and checks passwords.
type Passwords interface {
	Hash(ctx context.Context, password string) (string, error)
	Check(ctx context.Context, hash, password string) (bool, error)
}

// Deps are the server's collaborators.
type Deps struct {
	Store     Store
	Records   RecordStore
	Tokens    Tokens
	Passwords Passwords
	Logger    *slog.Logger
	Version   string

	// Sessions and Audit default to Store, which must then provide them.
	Sessions Sessions
	Audit    Audit
	// Throttle limits failed logins; nil means auth's default limits.
	Throttle Throttle
	Security Security
	Now      func() time.Time // the clock; nil means time.Now
}

// Server is orgd's HTTP API.
type Server struct {
	Deps
	api huma.API
	mux *http.ServeMux
}

// NewServer builds the API with every route registered.
func NewServer(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	d = withDefaults(d)
	s := &Server{Deps: d, mux: http.NewServeMux()}
	cfg := huma.DefaultConfig("orgd", d.Version)
	cfg.Info.Description = "Multi-tenant organization service."
	cfg.DocsPath = ""     // served offline by swgui instead, see routes
	cfg.SchemasPath = ""  // no $schema links in bodies
	cfg.CreateHooks = nil // (same)
	cfg.Transformers = []huma.Transformer{scrubErrors}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
	}
	s.api = humago.New(s.mux, cfg)
	s.routes()
	return s
}

// Handler returns the root handler: the routes plus problem+json answers for
// unknown routes and methods, security headers and CORS, and panic recovery.
func (s *Server) Handler() http.Handler {
	return s.recoverer(s.hygiene(s.problemMux()))
}
