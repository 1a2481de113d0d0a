package orgd

import "time"

// Event is one security-relevant fact of the audit log. It never holds a
// password, a hash or a token.
type Event struct {
	ID         string // time-ordered; unique within the organization's log
	OrgID      string // empty for events of no known organization (a login with an unknown email)
	At         time.Time
	Type       string
	Actor      string // the admin id, ActorOperator or ActorAnonymous
	ClientAddr string
	RequestID  string
	Outcome    string
	Details    map[string]string
}

// Audit event types.
const (
	EventOrgCreated      = "organization.created"
	EventOrgRenamed      = "organization.renamed"
	EventOrgDeleted      = "organization.deleted"
	EventEmailChanged    = "admin.email_changed"
	EventPasswordChanged = "admin.password_changed"
	EventLogin           = "auth.login"
	EventRefresh         = "auth.refresh"
	EventLogout          = "auth.logout"
	EventTokenReuse      = "auth.token_reuse"
	EventLockout         = "auth.lockout"
)

// Audit outcomes.
const (
	OutcomeSuccess   = "success"
	OutcomeFailure   = "failure"
	OutcomeDenied    = "denied"    // refused: the caller may not do this
	OutcomeThrottled = "throttled" // refused: too many attempts
	OutcomeRevoked   = "revoked"   // a token family was revoked
	OutcomeLocked    = "locked"    // logins are refused for a while
)

// ActorAnonymous is the actor of an event without an authenticated admin.
const ActorAnonymous = "anonymous"

// ActorOperator is the actor of an event caused through the operator API.
const ActorOperator = "operator"
