package api

import (
	"context"
	"time"

	"github.com/orgd/orgd"
)

type (
	loginInput struct {
		Body struct {
			Email    string `json:"email" maxLength:"254" example:"admin@acme.test"`
			Password string `json:"password" example:"correct horse battery"`
		}
	}
	loginOutput struct {
		CacheControl string `header:"Cache-Control"`
		Body         struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type" example:"bearer"`
			ExpiresIn   int    `json:"expires_in" doc:"Seconds until the token expires"`
		}
	}
	healthOutput struct {
		Body struct {
			Status string `json:"status" example:"ok"`
		}
	}
)

func (s *Server) handleLogin(ctx context.Context, in *loginInput) (*loginOutput, error) {
	b := &in.Body
	var v orgd.Validation
	if b.Email == "" {
		v.Check("email", "is required")
	}
	if msg := orgd.ValidatePassword(b.Password); msg != "" && len(b.Password) >= orgd.PasswordMinBytes {
		v.Check("password", msg) // too long or malformed: never truncated, never tried
	}
	if err := v.Err(); err != nil {
		return nil, s.problem(ctx, err)
	}
	hash := "" // unknown email: still pay for one bcrypt comparison
	admin, err := s.Store.AdminByEmail(ctx, b.Email)
	if err == nil {
		hash = admin.PasswordHash
	} else if orgd.ErrorCode(err) != orgd.ENOTFOUND {
		return nil, s.problem(ctx, err)
	}
	ok, err := s.Passwords.Check(ctx, hash, b.Password)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	if !ok {
		return nil, s.problem(ctx, orgd.Errorf(orgd.EUNAUTHORIZED, "Wrong email or password."))
	}
	org, err := s.Store.OrganizationByID(ctx, admin.OrgID)
	if err != nil || org.Status == orgd.StatusCreating || org.Status == orgd.StatusDeleting {
		if err != nil && orgd.ErrorCode(err) != orgd.ENOTFOUND {
			return nil, s.problem(ctx, err)
		}
		return nil, s.problem(ctx, orgd.Errorf(orgd.EUNAUTHORIZED, "Wrong email or password."))
	}
	token, claims, err := s.Tokens.Issue(admin.ID, org.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &loginOutput{CacheControl: "no-store"}
	out.Body.AccessToken = token
	out.Body.TokenType = "bearer"
	out.Body.ExpiresIn = int(claims.ExpiresAt.Sub(claims.IssuedAt).Seconds())
	return out, nil
}

func (s *Server) handleHealthz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	out := &healthOutput{}
	out.Body.Status = "ok"
	return out, nil
}

func (s *Server) handleReadyz(ctx context.Context, _ *struct{}) (*healthOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		return nil, retryLater(huma503("The database is not reachable."))
	}
	out := &healthOutput{}
	out.Body.Status = "ok"
	return out, nil
}
