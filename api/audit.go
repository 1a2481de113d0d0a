package api

import (
	"context"
	"time"

	"github.com/orgd/orgd"
)

// Audit keeps the audit log.
type Audit interface {
	RecordEvent(ctx context.Context, e orgd.Event) error
	// Events returns up to limit events of orgID, newest first, older than before.
	Events(ctx context.Context, orgID string, limit int, before string) ([]orgd.Event, error)
}

type (
	auditInput struct {
		Limit int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Events per page"`
		After string `query:"after" pattern:"^[0-7][0-9A-HJKMNP-TV-Z]{25}$" doc:"Continue after this event id (the next value of the previous page)"`
	}
	auditOutput struct {
		CacheControl string `header:"Cache-Control"`
		Body         struct {
			Events []eventBody `json:"events"`
			Next   string      `json:"next,omitempty" doc:"Pass as after= for the next, older page; absent on the last page"`
		}
	}
	eventBody struct {
		ID            string            `json:"id"`
		Time          time.Time         `json:"time"`
		Type          string            `json:"type" example:"auth.login"`
		Actor         string            `json:"actor" doc:"The admin id, or anonymous"`
		ClientAddress string            `json:"client_address,omitempty"`
		RequestID     string            `json:"request_id,omitempty"`
		Outcome       string            `json:"outcome" example:"success"`
		Details       map[string]string `json:"details,omitempty"`
	}
)

// handleAudit pages through the caller's own organization's events, newest first.
func (s *Server) handleAudit(ctx context.Context, in *auditInput) (*auditOutput, error) {
	p := caller(ctx)
	events, err := s.Audit.Events(ctx, p.Org.ID, in.Limit+1, in.After)
	if err != nil {
		return nil, s.problem(ctx, err)
	}
	out := &auditOutput{CacheControl: "no-store"}
	if len(events) > in.Limit {
		events = events[:in.Limit]
		out.Body.Next = events[len(events)-1].ID
	}
	out.Body.Events = make([]eventBody, len(events))
	for i, e := range events {
		out.Body.Events[i] = eventBody{ID: e.ID, Time: e.At.UTC(), Type: e.Type, Actor: e.Actor, ClientAddress: e.ClientAddr,
			RequestID: e.RequestID, Outcome: e.Outcome, Details: e.Details}
	}
	return out, nil
}

// record writes e to the audit log and the service log, with the request's
// client address and id, and the caller as actor unless e names one. A
// failure to record is logged; it does not undo what already happened.
func (s *Server) record(ctx context.Context, e orgd.Event) {
	ri := clientInfo(ctx)
	e.ClientAddr, e.RequestID = ri.ClientAddr, ri.RequestID
	if e.Actor == "" {
		e.Actor = orgd.ActorAnonymous
		if p := caller(ctx); p != nil {
			e.Actor = p.Claims.AdminID
		}
	}
	s.Logger.InfoContext(ctx, "audit", "event", e.Type, "outcome", e.Outcome, "org_id", e.OrgID, "actor", e.Actor,
		"client_addr", e.ClientAddr, "request_id", e.RequestID, "details", e.Details)
	// The client may have gone: the record is still written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.Audit.RecordEvent(ctx, e); err != nil {
		s.Logger.ErrorContext(ctx, "audit event not recorded", "event", e.Type, "org_id", e.OrgID, "err", err)
	}
}
