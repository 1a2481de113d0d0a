package api

import (
	"context"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
	"github.com/orgd/orgd/auth"
)

// principal is the verified caller: an admin of one active organization.
type principal struct {
	Claims auth.Claims
	Org    *orgd.Organization
}

type principalKey struct{}

// caller returns the verified caller, or nil for an anonymous request.
func caller(ctx context.Context) *principal {
	p, _ := ctx.Value(principalKey{}).(*principal)
	return p
}

// requireAdmin lets a request through only with a valid token of the admin of
// an existing organization; the organization comes from the token alone.
func (s *Server) requireAdmin(ctx huma.Context, next func(huma.Context)) {
	s.authenticate(ctx, next, true)
}

// optionalAdmin identifies the caller when a token is presented; a presented
// but invalid token is still refused, so that a client learns it is bad.
func (s *Server) optionalAdmin(ctx huma.Context, next func(huma.Context)) {
	s.authenticate(ctx, next, false)
}

// oneAuthorization refuses, with a 401, a request with more than one
// Authorization header: which one a proxy in front checked is not guessed.
func (s *Server) oneAuthorization(ctx huma.Context) bool {
	n := 0
	ctx.EachHeader(func(name, _ string) {
		if strings.EqualFold(name, "Authorization") {
			n++
		}
	})
	if n > 1 {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="orgd", error="invalid_request"`)
		s.writeErr(ctx, s.problem(ctx.Context(), orgd.Errorf(orgd.EUNAUTHORIZED, "Send one Authorization header, not %d.", n)))
		return false
	}
	return true
}

func (s *Server) authenticate(ctx huma.Context, next func(huma.Context), required bool) {
	if !s.oneAuthorization(ctx) {
		return
	}
	h := ctx.Header("Authorization")
	if h == "" && !required {
		next(ctx)
		return
	}
	p, err := s.verify(ctx.Context(), h)
	if err != nil {
		if orgd.ErrorCode(err) == orgd.EUNAUTHORIZED {
			// RFC 6750 3.1: no error code for a request that sent no bearer
			// token (none at all, or another scheme).
			challenge := `Bearer realm="orgd"`
			if scheme, token, _ := strings.Cut(h, " "); strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "" {
				challenge += `, error="invalid_token"`
			}
			ctx.SetHeader("WWW-Authenticate", challenge)
		}
		s.writeErr(ctx, s.problem(ctx.Context(), err))
		return
	}
	noteOrg(ctx.Context(), p.Org.ID)
	next(huma.WithValue(ctx, principalKey{}, p))
}

// verify checks an Authorization header and the organization it names.
func (s *Server) verify(ctx context.Context, header string) (*principal, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if header == "" {
		return nil, orgd.Errorf(orgd.EUNAUTHORIZED, "Missing bearer token: send Authorization: Bearer <token>.")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, orgd.Errorf(orgd.EUNAUTHORIZED, "Malformed Authorization header: expected Bearer <token>.")
	}
	claims, err := s.Tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		return nil, orgd.Errorf(orgd.EUNAUTHORIZED, "Invalid or expired token.")
	}
	// Logout, reuse of a refresh token and a password change revoke the
	// token's session; this lookup makes that take effect at once.
	if revoked, err := s.Sessions.SessionRevoked(ctx, claims.SessionID); err != nil {
		return nil, err
	} else if revoked {
		return nil, orgd.Errorf(orgd.EUNAUTHORIZED, "The token has been revoked; log in again.")
	}
	org, err := s.Store.OrganizationByID(ctx, claims.OrgID)
	if orgd.ErrorCode(err) == orgd.ENOTFOUND || err == nil && (!org.SignsIn() || org.AdminID != claims.AdminID) {
		return nil, orgd.Errorf(orgd.EUNAUTHORIZED, "The token's organization or admin no longer exists.")
	} else if err != nil {
		return nil, err
	}
	return &principal{Claims: claims, Org: org}, nil
}
