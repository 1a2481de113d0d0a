package mongodb

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collAudit holds the audit log. An event's _id is "<organization id>/<event
// id>" (noOrg for events of no organization), with time-ordered event ids,
// so that one organization's events are one _id range, read newest first.
const collAudit = "audit_events"

// noOrg stands for the organization of events that have none.
const noOrg = "-"

type auditDoc struct {
	ID         string            `bson:"_id"`
	EventID    string            `bson:"event_id"`
	OrgID      string            `bson:"org_id"`
	At         time.Time         `bson:"at"`
	Type       string            `bson:"type"`
	Actor      string            `bson:"actor"`
	ClientAddr string            `bson:"client_addr,omitempty"`
	RequestID  string            `bson:"request_id,omitempty"`
	Outcome    string            `bson:"outcome"`
	Details    map[string]string `bson:"details,omitempty"`
}

// eventIDs makes event ids that increase within this process even within
// one millisecond, so that the log reads back in the order it was written.
type eventIDs struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

func (g *eventIDs) next(at time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.entropy == nil {
		g.entropy = ulid.Monotonic(rand.Reader, 0)
	}
	return ulid.MustNew(ulid.Timestamp(at), g.entropy).String()
}

func (s *Store) audit() *mongo.Collection { return s.masterColl(collAudit) }

func auditKey(orgID, eventID string) string {
	if orgID == "" {
		orgID = noOrg
	}
	return orgID + "/" + eventID
}

// RecordEvent appends e to the audit log; its ID and time are set here. If
// the database is unavailable or too busy to take it within ctx, the event
// is kept and written in the background (see auditOutbox) and RecordEvent
// returns nil: an error means the event is lost.
func (s *Store) RecordEvent(ctx context.Context, e orgd.Event) error {
	at := s.now()
	id := s.eventIDs.next(at)
	d := auditDoc{ID: auditKey(e.OrgID, id), EventID: id, OrgID: e.OrgID, At: at, Type: e.Type, Actor: e.Actor,
		ClientAddr: e.ClientAddr, RequestID: e.RequestID, Outcome: e.Outcome, Details: e.Details}
	err := s.writeEvent(ctx, d)
	if unavailable(err) && s.deferEvent(d) {
		s.log.WarnContext(ctx, "audit event deferred: the database did not take it in time; it is written in the background",
			"event", d.Type, "org_id", d.OrgID, "err", err)
		return nil
	}
	return translate(err)
}

// Events returns up to limit events of the organization orgID, newest first,
// older than the event before (all when before is empty).
func (s *Store) Events(ctx context.Context, orgID string, limit int, before string) ([]orgd.Event, error) {
	if orgID == "" {
		return nil, nil
	}
	upper := auditKey(orgID, "~") // above every event id: ULIDs are [0-9A-Z]
	if before != "" {
		upper = auditKey(orgID, before)
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: auditKey(orgID, "")}, {Key: "$lt", Value: upper}}}}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit))
	cur, err := s.audit().Find(ctx, filter, opts)
	if err != nil {
		return nil, translate(err)
	}
	var docs []auditDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, translate(err)
	}
	out := make([]orgd.Event, len(docs))
	for i, d := range docs {
		out[i] = orgd.Event{ID: d.EventID, OrgID: d.OrgID, At: d.At, Type: d.Type, Actor: d.Actor,
			ClientAddr: d.ClientAddr, RequestID: d.RequestID, Outcome: d.Outcome, Details: d.Details}
	}
	return out, nil
}
