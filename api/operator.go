package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
)

// Operator is what the operator endpoints need from storage.
type Operator interface {
	CreateOrganizationAt(ctx context.Context, name, email, passwordHash string, want orgd.Placement) (*orgd.Organization, error)
	OrganizationByAnyName(ctx context.Context, name string) (*orgd.Organization, error)
	ListOrganizations(ctx context.Context, f orgd.OrgFilter, after string, limit int) ([]*orgd.Organization, string, error)
	PlacementStats(ctx context.Context) ([]orgd.DeploymentStats, error)
	SetDraining(ctx context.Context, deployment string, draining bool) error
	StartMove(ctx context.Context, orgID string, want orgd.Placement) (*orgd.MoveProgress, error)
	MoveStatus(ctx context.Context, orgID string) (*orgd.MoveProgress, error)
	Moves(ctx context.Context) ([]*orgd.MoveProgress, error)
}

// The JSON shapes of the operator endpoints.
type (
	operatorOrg struct {
		ID               string    `json:"id"`
		OrganizationName string    `json:"organization_name"`
		Status           string    `json:"status" doc:"active, creating, updating, deleting or moving"`
		Deployment       string    `json:"deployment"`
		Tenancy          string    `json:"tenancy"`
		Database         string    `json:"database"`
		CollectionName   string    `json:"collection_name"`
		CreatedAt        time.Time `json:"created_at"`
		UpdatedAt        time.Time `json:"updated_at"`
	}
	listOrgsInput struct {
		Deployment string `query:"deployment" maxLength:"32" doc:"Only organizations on this deployment"`
		Status     string `query:"status" enum:"active,creating,updating,deleting,moving" doc:"Only organizations in this state"`
		Tenancy    string `query:"tenancy" enum:"collection,database" doc:"Only organizations in this tenancy model"`
		Limit      int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"Organizations per page"`
		After      string `query:"after" maxLength:"26" doc:"The next cursor of the previous page"`
	}
	listOrgsOutput struct {
		Link string `header:"Link" doc:"rel=next: the next page, if any"`
		Body struct {
			Organizations []operatorOrg `json:"organizations"`
			Next          string        `json:"next,omitempty" doc:"Pass as after= for the next page; absent on the last"`
		}
	}
	operatorCreateInput struct {
		Body struct {
			OrganizationName string `json:"organization_name" minLength:"3" maxLength:"48" pattern:"^[A-Za-z0-9][A-Za-z0-9_-]*$"`
			Email            string `json:"email" maxLength:"254" format:"email"`
			Password         string `json:"password" minLength:"1"`
			Deployment       string `json:"deployment,omitempty" maxLength:"32" doc:"Where to place it; default: the placement policy's choice"`
			Tenancy          string `json:"tenancy,omitempty" enum:"collection,database" doc:"Default: ORGD_TENANCY"`
		}
	}
	operatorOrgOutput struct {
		Location string `header:"Location" doc:"Where the organization is read (with its admin's token)"`
		Body     operatorOrg
	}
	deploymentView struct {
		Name        string `json:"name"`
		Home        bool   `json:"home" doc:"Holds the master database"`
		Draining    bool   `json:"draining" doc:"The placement policy places no new organizations here (naming it still does)"`
		Tenants     int64  `json:"tenants"`
		Databases   int64  `json:"databases"`
		Collections int64  `json:"collections"`
		Indexes     int64  `json:"indexes"`
		Files       int64  `json:"collections_plus_indexes" doc:"Storage-engine files: the first limit a deployment meets"`
		DataSize    int64  `json:"data_size" doc:"Bytes, uncompressed"`
		StorageSize int64  `json:"storage_size" doc:"Bytes on disk"`
		Error       string `json:"error,omitempty" doc:"Why the statistics are missing"`
	}
	deploymentsOutput struct {
		Body struct {
			Deployments []deploymentView `json:"deployments"`
		}
	}
	drainInput struct {
		Name string `path:"name" maxLength:"32"`
		Body struct {
			Draining bool `json:"draining" doc:"true: the placement policy places no new organizations here; naming it still does"`
		}
	}
	drainOutput struct {
		Body struct {
			Name     string `json:"name"`
			Draining bool   `json:"draining"`
		}
	}
	startMoveInput struct {
		Body struct {
			OrganizationName string `json:"organization_name" minLength:"3" maxLength:"48"`
			Deployment       string `json:"deployment,omitempty" maxLength:"32" doc:"Target; default: its own if a tenancy is given, else the placement policy's choice of another"`
			Tenancy          string `json:"tenancy,omitempty" enum:"collection,database" doc:"Target model; default: its current one"`
		}
	}
	moveView struct {
		OrganizationName string    `json:"organization_name"`
		From             placeView `json:"from"`
		To               placeView `json:"to"`
		Phase            string    `json:"phase" doc:"copying, catching up, paused, switched, undoing; once over: moved or undone"`
		Done             bool      `json:"done"`
		Copied           int64     `json:"documents_copied"`
		Total            int64     `json:"documents_total"`
		Percent          float64   `json:"percent"`
		Rate             float64   `json:"documents_per_second"`
		RemainingSeconds float64   `json:"estimated_seconds_left"`
		WritesPausedMS   int64     `json:"writes_paused_ms" doc:"How long the organization's writes have been, or were, paused"`
		StartedAt        time.Time `json:"started_at"`
		FinishedAt       time.Time `json:"finished_at,omitzero"`
		Checksum         string    `json:"checksum,omitempty" doc:"Of the documents verified before the switch"`
		Error            string    `json:"error,omitempty" doc:"Why the move was undone"`
	}
	placeView struct {
		Deployment string `json:"deployment"`
		Tenancy    string `json:"tenancy"`
	}
	moveOutput struct {
		Location string `header:"Location"`
		Body     moveView
	}
	movesOutput struct {
		Body struct {
			Moves []moveView `json:"moves"`
		}
	}
	moveNameInput struct {
		OrganizationName string `path:"organization_name" maxLength:"48"`
	}
)

// operatorRoutes registers the operator endpoints: only the operator
// credential reaches them, never an organization admin's token.
func (s *Server) operatorRoutes() {
	if s.Operator == nil {
		return
	}
	huma.Register(s.api, s.operator("GET", "/operator/organizations", 200, "List organizations"), s.handleListOrgs)
	huma.Register(s.api, s.operator("POST", "/operator/organizations", 201, "Create an organization where an operator says"), s.handleOperatorCreate)
	huma.Register(s.api, s.operator("GET", "/operator/deployments", 200, "Placement statistics per deployment"), s.handleDeployments)
	huma.Register(s.api, s.operator("PUT", "/operator/deployments/{name}", 200, "Mark a deployment as draining, or not"), s.handleDrain)
	huma.Register(s.api, s.operator("POST", "/operator/moves", 202, "Start moving an organization to another deployment or tenancy model"), s.handleStartMove)
	huma.Register(s.api, s.operator("GET", "/operator/moves", 200, "Moves in progress"), s.handleMoves)
	huma.Register(s.api, s.operator("GET", "/operator/moves/{organization_name}", 200, "Progress of an organization's move, or the outcome of its last"), s.handleMoveStatus)
}

// operator describes an operation that needs the operator credential.
func (s *Server) operator(method, path string, status int, summary string) huma.Operation {
	o := s.public(method, path, status, summary, s.requireOperator)
	o.Security = []map[string][]string{{"operator": {}}}
	o.Tags = []string{"operator"}
	o.Errors = []int{401, 403}
	return o
}

// requireOperator lets a request through only with the operator credential.
// An organization admin's valid token is refused with 403: it is a real
// credential, of a role that may not do this.
func (s *Server) requireOperator(ctx huma.Context, next func(huma.Context)) {
	if !s.oneAuthorization(ctx) {
		return
	}
	scheme, token, _ := strings.Cut(ctx.Header("Authorization"), " ")
	token = strings.TrimSpace(token)
	if s.OperatorToken != "" && strings.EqualFold(scheme, "Bearer") && token != "" {
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(s.OperatorToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			next(ctx)
			return
		}
		if _, err := s.Tokens.Verify(token); err == nil {
			s.writeErr(ctx, s.problem(ctx.Context(), orgd.Errorf(orgd.EFORBIDDEN, "Organization admins cannot use operator endpoints.")))
			return
		}
	}
	msg := "Missing or wrong operator credential: send Authorization: Bearer <operator token>."
	if s.OperatorToken == "" {
		msg = "Operator endpoints are disabled: no operator credential is configured (ORGD_OPERATOR_TOKEN_FILE)."
	}
	ctx.SetHeader("WWW-Authenticate", `Bearer realm="orgd-operator"`)
	s.writeErr(ctx, s.problem(ctx.Context(), orgd.Errorf(orgd.EUNAUTHORIZED, "%s", msg)))
}

func operatorView(o *orgd.Organization) operatorOrg {
	return operatorOrg{ID: o.ID, OrganizationName: o.Name, Status: string(o.Status), Deployment: o.Deployment,
		Tenancy: string(o.Tenancy), Database: o.Database, CollectionName: o.Collection,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
}

func (s *Server) handleListOrgs(ctx context.Context, in *listOrgsInput) (*listOrgsOutput, error) {
	var errs []error
	if in.Deployment != "" {
		if msg := orgd.ValidateDeployment(in.Deployment); msg != "" {
			errs = append(errs, &huma.ErrorDetail{Location: "query.deployment", Message: msg})
		}
	}
	if in.After != "" && !orgd.ValidID(in.After) {
		errs = append(errs, &huma.ErrorDetail{Location: "query.after", Message: "must be the next cursor of a previous page"})
	}
	if len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	f := orgd.OrgFilter{Deployment: in.Deployment, Status: orgd.Status(in.Status), Tenancy: orgd.Tenancy(in.Tenancy)}
	orgs, next, err := s.Operator.ListOrganizations(ctx, f, in.After, in.Limit)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &listOrgsOutput{}
	out.Body.Organizations = make([]operatorOrg, len(orgs))
	for i, o := range orgs {
		out.Body.Organizations[i] = operatorView(o)
	}
	if next != "" {
		out.Body.Next = next
		q := url.Values{"after": {next}, "limit": {strconv.Itoa(in.Limit)}}
		for k, v := range map[string]string{"deployment": in.Deployment, "status": in.Status, "tenancy": in.Tenancy} {
			if v != "" {
				q.Set(k, v)
			}
		}
		out.Link = `</operator/organizations?` + q.Encode() + `>; rel="next"`
	}
	return out, nil
}

func (s *Server) handleOperatorCreate(ctx context.Context, in *operatorCreateInput) (*operatorOrgOutput, error) {
	b := &in.Body
	b.Email = canonicalEmail(b.Email)
	var v orgd.Validation
	v.Check("organization_name", orgd.ValidateName(b.OrganizationName))
	v.Check("email", orgd.ValidateEmail(b.Email))
	v.Check("password", orgd.ValidatePassword(b.Password))
	if b.Deployment != "" {
		v.Check("deployment", orgd.ValidateDeployment(b.Deployment))
	}
	if err := v.Err(); err != nil {
		return nil, s.problem(ctx, err)
	}
	hash, err := s.Passwords.Hash(ctx, b.Password)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	o, err := s.Operator.CreateOrganizationAt(ctx, b.OrganizationName, b.Email, hash,
		orgd.Placement{Deployment: b.Deployment, Tenancy: orgd.Tenancy(b.Tenancy)})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	s.record(ctx, orgd.Event{Type: orgd.EventOrgCreated, OrgID: o.ID, Actor: orgd.ActorOperator, Outcome: orgd.OutcomeSuccess,
		Details: map[string]string{"name": o.Name, "admin_id": o.AdminID, "deployment": o.Deployment, "tenancy": string(o.Tenancy)}})
	return &operatorOrgOutput{Location: orgLocation(o.Name), Body: operatorView(o)}, nil
}

func (s *Server) handleDeployments(ctx context.Context, _ *struct{}) (*deploymentsOutput, error) {
	stats, err := s.Operator.PlacementStats(ctx)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &deploymentsOutput{}
	out.Body.Deployments = make([]deploymentView, len(stats))
	for i, st := range stats {
		out.Body.Deployments[i] = deploymentView{Name: st.Name, Home: st.Home, Draining: st.Draining, Tenants: st.Tenants,
			Databases: st.Databases, Collections: st.Collections, Indexes: st.Indexes, Files: st.Collections + st.Indexes,
			DataSize: st.DataSize, StorageSize: st.StorageSize, Error: st.Error}
	}
	return out, nil
}

func (s *Server) handleDrain(ctx context.Context, in *drainInput) (*drainOutput, error) {
	if err := s.Operator.SetDraining(ctx, in.Name, in.Body.Draining); err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &drainOutput{}
	out.Body.Name, out.Body.Draining = in.Name, in.Body.Draining
	return out, nil
}

func (s *Server) handleStartMove(ctx context.Context, in *startMoveInput) (*moveOutput, error) {
	b := &in.Body
	if b.Deployment != "" {
		var v orgd.Validation
		v.Check("deployment", orgd.ValidateDeployment(b.Deployment))
		if err := v.Err(); err != nil {
			return nil, s.problem(ctx, err)
		}
	}
	o, err := s.Operator.OrganizationByAnyName(ctx, b.OrganizationName)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	p, err := s.Operator.StartMove(ctx, o.ID, orgd.Placement{Deployment: b.Deployment, Tenancy: orgd.Tenancy(b.Tenancy)})
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &moveOutput{Location: "/operator/moves/" + url.PathEscape(o.Name), Body: moveBody(p)}, nil
}

func (s *Server) handleMoves(ctx context.Context, _ *struct{}) (*movesOutput, error) {
	moves, err := s.Operator.Moves(ctx)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &movesOutput{}
	out.Body.Moves = make([]moveView, len(moves))
	for i, m := range moves {
		out.Body.Moves[i] = moveBody(m)
	}
	return out, nil
}

func (s *Server) handleMoveStatus(ctx context.Context, in *moveNameInput) (*moveOutput, error) {
	o, err := s.Operator.OrganizationByAnyName(ctx, in.OrganizationName)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	p, err := s.Operator.MoveStatus(ctx, o.ID)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	return &moveOutput{Body: moveBody(p)}, nil
}

func moveBody(p *orgd.MoveProgress) moveView {
	v := moveView{OrganizationName: p.Name, Phase: p.Phase, Done: p.Done, Copied: p.Copied, Total: p.Total,
		Rate: p.Rate, RemainingSeconds: p.Remaining.Seconds(), WritesPausedMS: p.Paused.Milliseconds(),
		StartedAt: p.StartedAt.UTC(), FinishedAt: p.FinishedAt.UTC(), Checksum: p.Checksum, Error: p.Error,
		From: placeView{p.From.Deployment, string(p.From.Tenancy)}, To: placeView{p.To.Deployment, string(p.To.Tenancy)}}
	if p.FinishedAt.IsZero() {
		v.FinishedAt = time.Time{}
	}
	if p.Total > 0 {
		v.Percent = float64(p.Copied) * 100 / float64(p.Total)
	} else if p.Done || p.Phase != "copying" {
		v.Percent = 100
	}
	return v
}
