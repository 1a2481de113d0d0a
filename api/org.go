package api

import (
	"context"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
	"golang.org/x/text/unicode/norm"
)

// canonicalEmail returns email in Unicode normalization form C, so that two
// ways of writing the same address (an accented letter as one character, or
// as a letter and a combining mark, as some systems send it) are one address:
// one admin, one throttle count, one login.
func canonicalEmail(email string) string { return norm.NFC.String(email) }

// The JSON shapes of the organization endpoints. Patterns and lengths here
// document the rules in the OpenAPI schema; package orgd enforces them.
type (
	createOrgInput struct {
		Body struct {
			OrganizationName string `json:"organization_name" minLength:"3" maxLength:"48" pattern:"^[A-Za-z0-9][A-Za-z0-9_-]*$" doc:"3-48 of A-Z a-z 0-9 _ -, starting with a letter or digit; unique case-insensitively" example:"acme"`
			Email            string `json:"email" maxLength:"254" format:"email" doc:"The admin's email; unique case-insensitively across all admins; stored in Unicode form C (NFC)" example:"admin@acme.test"`
			Password         string `json:"password" minLength:"1" doc:"8 to 72 bytes (bcrypt's limit: longer is refused, never truncated)" example:"correct horse battery"`
		}
	}
	createOrgOutput struct {
		Location string `header:"Location" doc:"Where the organization is read"`
		Body     struct {
			OrganizationName string    `json:"organization_name"`
			CollectionName   string    `json:"collection_name"`
			Database         string    `json:"database"`
			AdminEmail       string    `json:"admin_email"`
			CreatedAt        time.Time `json:"created_at"`
			Deployment       string    `json:"deployment" doc:"The MongoDB deployment holding its data"`
			Tenancy          string    `json:"tenancy" doc:"collection: a collection in a shared database; database: a database of its own"`
		}
	}
	getOrgInput struct {
		OrganizationName string `query:"organization_name" doc:"The organization's name (case-insensitive); required unless a bearer token is sent, which without it gets the token's own organization" example:"acme"`
	}
	orgOutput struct {
		Body orgBody
	}
	orgBody struct {
		OrganizationName string    `json:"organization_name"`
		CollectionName   string    `json:"collection_name"`
		Database         string    `json:"database"`
		AdminEmail       string    `json:"admin_email,omitempty" doc:"Present only for the organization's own admin"`
		CreatedAt        time.Time `json:"created_at"`
		UpdatedAt        time.Time `json:"updated_at"`
		Deployment       string    `json:"deployment" doc:"The MongoDB deployment holding its data"`
		Tenancy          string    `json:"tenancy" doc:"collection: a collection in a shared database; database: a database of its own"`
	}
	updateOrgInput struct {
		Body struct {
			OrganizationName *string `json:"organization_name,omitempty" minLength:"3" maxLength:"48" pattern:"^[A-Za-z0-9][A-Za-z0-9_-]*$" doc:"New name: renames the tenant collection"`
			Email            *string `json:"email,omitempty" maxLength:"254" format:"email" doc:"New admin email"`
			Password         *string `json:"password,omitempty" minLength:"1" doc:"New password, 8 to 72 bytes"`
		}
	}
	deleteOrgInput struct {
		OrganizationName string `query:"organization_name" required:"true" doc:"The organization to delete: must be the caller's own" example:"acme"`
	}
)

func (s *Server) handleCreateOrg(ctx context.Context, in *createOrgInput) (*createOrgOutput, error) {
	b := &in.Body
	b.Email = canonicalEmail(b.Email)
	var v orgd.Validation
	v.Check("organization_name", orgd.ValidateName(b.OrganizationName))
	v.Check("email", orgd.ValidateEmail(b.Email))
	v.Check("password", orgd.ValidatePassword(b.Password))
	if err := v.Err(); err != nil {
		return nil, s.problem(ctx, err)
	}
	hash, err := s.Passwords.Hash(ctx, b.Password)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	org, err := s.Store.CreateOrganization(ctx, b.OrganizationName, b.Email, hash)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	s.record(ctx, orgd.Event{Type: orgd.EventOrgCreated, OrgID: org.ID, Outcome: orgd.OutcomeSuccess,
		Details: map[string]string{"name": org.Name, "admin_id": org.AdminID}})
	out := &createOrgOutput{Location: orgLocation(org.Name)}
	out.Body.OrganizationName = org.Name
	out.Body.CollectionName = org.Collection
	out.Body.Database = org.Database
	out.Body.AdminEmail = b.Email
	out.Body.CreatedAt = org.CreatedAt.UTC()
	out.Body.Deployment, out.Body.Tenancy = org.Deployment, string(org.Tenancy)
	return out, nil
}

func (s *Server) handleGetOrg(ctx context.Context, in *getOrgInput) (*orgOutput, error) {
	p := caller(ctx)
	var org *orgd.Organization
	var err error
	switch {
	case in.OrganizationName != "":
		org, err = s.Store.OrganizationByName(ctx, in.OrganizationName)
	case p != nil: // an admin who knows only its login asks for its own organization
		org = p.Org
		if !org.Status.Readable() { // as by name: never a state mid-operation
			err = orgd.Errorf(orgd.ECONFLICT, "Organization %q is being changed; retry shortly.", org.Name)
		}
	default:
		return nil, huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
			Location: "query.organization_name", Message: "is required unless you send a bearer token"})
	}
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	email := ""
	if p != nil && p.Org.ID == org.ID {
		a, err := s.Store.AdminByID(ctx, org.AdminID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		email = a.Email
	}
	return &orgOutput{Body: orgView(org, email)}, nil
}

func (s *Server) handleUpdateOrg(ctx context.Context, in *updateOrgInput) (*orgOutput, error) {
	b := &in.Body
	var v orgd.Validation
	if b.OrganizationName != nil {
		v.Check("organization_name", orgd.ValidateName(*b.OrganizationName))
	}
	if b.Email != nil {
		*b.Email = canonicalEmail(*b.Email)
		v.Check("email", orgd.ValidateEmail(*b.Email))
	}
	if b.Password != nil {
		v.Check("password", orgd.ValidatePassword(*b.Password))
	}
	if b.OrganizationName == nil && b.Email == nil && b.Password == nil {
		v.Check("body", "must set at least one of organization_name, email, password")
	}
	if err := v.Err(); err != nil {
		return nil, s.problem(ctx, err)
	}
	upd := orgd.OrganizationUpdate{Name: b.OrganizationName, Email: b.Email}
	if b.Password != nil {
		hash, err := s.Passwords.Hash(ctx, *b.Password)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		upd.PasswordHash = &hash
	}
	p := caller(ctx)
	before, err := s.Store.AdminByID(ctx, p.Org.AdminID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	org, err := s.Store.UpdateOrganization(ctx, p.Org.ID, upd)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	// The change is made: nothing that could still fail comes before its
	// audit (a read of the admin did, and the change went unrecorded).
	email := before.Email
	if b.Email != nil {
		email = *b.Email // as the update stored it
	}
	s.auditUpdate(ctx, p.Org, org, before.Email, email, b.Password != nil)
	return &orgOutput{Body: orgView(org, email)}, nil
}

func (s *Server) handleDeleteOrg(ctx context.Context, in *deleteOrgInput) (*struct{}, error) {
	org, err := s.Store.OrganizationByName(ctx, in.OrganizationName)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	p := caller(ctx)
	if p.Org.ID != org.ID {
		s.record(ctx, orgd.Event{Type: orgd.EventOrgDeleted, OrgID: p.Org.ID, Outcome: orgd.OutcomeDenied,
			Details: map[string]string{"target": org.Name}})
		return nil, s.problem(ctx, orgd.Errorf(orgd.EFORBIDDEN, "Your token is not for organization %q.", in.OrganizationName))
	}
	if err := s.Store.DeleteOrganizationNamed(ctx, org.ID, in.OrganizationName); err != nil {
		return nil, s.problem(ctx, err)
	}
	s.record(ctx, orgd.Event{Type: orgd.EventOrgDeleted, OrgID: org.ID, Outcome: orgd.OutcomeSuccess,
		Details: map[string]string{"name": org.Name}})
	// Its tokens already fail: the organization is gone. This only tidies up.
	if err := s.Sessions.RevokeOrganizationSessions(ctx, org.ID, orgd.RevokeOrgDeleted); err != nil {
		s.Logger.WarnContext(ctx, "revoke the sessions of a deleted organization", "org_id", org.ID, "err", err)
	}
	return nil, nil
}

// auditUpdate records what an update changed: the name, the admin's email,
// the password (which revoked the admin's earlier logins).
func (s *Server) auditUpdate(ctx context.Context, old, org *orgd.Organization, fromEmail, toEmail string, password bool) {
	if old.Name != org.Name {
		s.record(ctx, orgd.Event{Type: orgd.EventOrgRenamed, OrgID: org.ID, Outcome: orgd.OutcomeSuccess,
			Details: map[string]string{"from": old.Name, "to": org.Name}})
	}
	if fromEmail != toEmail {
		s.record(ctx, orgd.Event{Type: orgd.EventEmailChanged, OrgID: org.ID, Outcome: orgd.OutcomeSuccess,
			Details: map[string]string{"from": fromEmail, "to": toEmail}})
	}
	if password {
		s.record(ctx, orgd.Event{Type: orgd.EventPasswordChanged, OrgID: org.ID, Outcome: orgd.OutcomeSuccess,
			Details: map[string]string{"sessions": "revoked"}})
	}
}

func orgView(o *orgd.Organization, adminEmail string) orgBody {
	return orgBody{
		OrganizationName: o.Name,
		CollectionName:   o.Collection,
		Database:         o.Database,
		AdminEmail:       adminEmail,
		CreatedAt:        o.CreatedAt.UTC(),
		UpdatedAt:        o.UpdatedAt.UTC(),
		Deployment:       o.Deployment,
		Tenancy:          string(o.Tenancy),
	}
}

// orgLocation is where an organization is read: the Location of a 201.
func orgLocation(name string) string {
	return "/org/get?" + url.Values{"organization_name": {name}}.Encode()
}
