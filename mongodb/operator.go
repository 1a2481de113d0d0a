package mongodb

import (
	"context"
	"errors"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ListOrganizations returns up to limit organizations in id order (which is
// creation order), starting after the id after, that match f, and the cursor
// of the next page ("" when there is none).
func (s *Store) ListOrganizations(ctx context.Context, f orgd.OrgFilter, after string, limit int) ([]*orgd.Organization, string, error) {
	filter := bson.D{}
	if after != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	if f.Deployment != "" {
		// Records written before there were several deployments name none.
		deps := bson.A{f.Deployment}
		if f.Deployment == s.deps.home {
			deps = append(deps, nil)
		}
		filter = append(filter, bson.E{Key: "deployment", Value: bson.D{{Key: "$in", Value: deps}}})
	}
	if f.Tenancy != "" {
		ts := bson.A{string(f.Tenancy)}
		if f.Tenancy == orgd.TenancyCollection {
			ts = append(ts, nil)
		}
		filter = append(filter, bson.E{Key: "tenancy", Value: bson.D{{Key: "$in", Value: ts}}})
	}
	if f.Status != "" {
		filter = append(filter, bson.E{Key: "status", Value: string(f.Status)})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit) + 1)
	cur, err := s.orgs().Find(ctx, filter, opts)
	if err != nil {
		return nil, "", translate(err)
	}
	var docs []orgDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", translate(err)
	}
	next := ""
	if len(docs) > limit {
		docs = docs[:limit]
		next = docs[limit-1].ID
	}
	out := make([]*orgd.Organization, len(docs))
	for i := range docs {
		out[i] = docs[i].domain(s.deps.home)
	}
	return out, next, nil
}

// MoveStatus returns the progress of the move of organization orgID in
// progress, or else the outcome of its last one; ENOTFOUND when there is none.
func (s *Store) MoveStatus(ctx context.Context, orgID string) (*orgd.MoveProgress, error) {
	var op opDoc
	if ok, err := findByID(ctx, s.ops(), orgID, &op); err != nil {
		return nil, err
	} else if ok && op.Kind == opMove && op.Planned {
		var d orgDoc
		if _, err := findByID(ctx, s.orgs(), orgID, &d); err != nil {
			return nil, err
		}
		return s.progress(&op, d.Name), nil
	}
	cur, err := s.moves().Find(ctx, bson.D{{Key: "org_id", Value: orgID}},
		options.Find().SetSort(bson.D{{Key: "finished_at", Value: -1}}).SetLimit(1))
	if err != nil {
		return nil, translate(err)
	}
	var hist []moveDoc
	if err := cur.All(ctx, &hist); err != nil {
		return nil, translate(err)
	}
	if len(hist) == 0 {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "The organization has no move in progress and none recorded.")
	}
	h := hist[0]
	return &orgd.MoveProgress{OrgID: h.OrgID, Name: h.Name, From: h.From.placement(), To: h.To.placement(),
		Phase: h.Outcome, Copied: h.Documents, Total: h.Documents, StartedAt: h.StartedAt, FinishedAt: h.FinishedAt,
		Paused: time.Duration(h.PausedMS) * time.Millisecond, Checksum: h.Checksum, Error: h.Error, Done: true}, nil
}

// Moves returns the moves in progress.
func (s *Store) Moves(ctx context.Context) ([]*orgd.MoveProgress, error) {
	cur, err := s.ops().Find(ctx, bson.D{{Key: "kind", Value: opMove}})
	if err != nil {
		return nil, translate(err)
	}
	var ops []opDoc
	if err := cur.All(ctx, &ops); err != nil {
		return nil, translate(err)
	}
	var out []*orgd.MoveProgress
	for i := range ops {
		if !ops[i].Planned {
			continue
		}
		var d orgDoc
		if _, err := findByID(ctx, s.orgs(), ops[i].OrgID, &d); err != nil {
			return nil, err
		}
		out = append(out, s.progress(&ops[i], d.Name))
	}
	return out, nil
}

func (p place) placement() orgd.Placement {
	return orgd.Placement{Deployment: p.Deployment, Tenancy: orgd.Tenancy(p.Tenancy)}
}

// paused is how long a move has paused the organization's writes as of now:
// the pauses of runs stopped during theirs, then the one in force, from the
// pause to the switch, or to the writes' resumption when the move was undone.
func (op *opDoc) paused(now time.Time) time.Duration {
	switch {
	case op.PausedAt.IsZero():
		return op.PausedBefore
	case !op.SwitchedAt.IsZero():
		return op.PausedBefore + op.SwitchedAt.Sub(op.PausedAt)
	case !op.ResumedAt.IsZero():
		return op.PausedBefore + op.ResumedAt.Sub(op.PausedAt)
	}
	return op.PausedBefore + now.Sub(op.PausedAt)
}

// progress describes a move in progress from its journal entry.
func (s *Store) progress(op *opDoc, name string) *orgd.MoveProgress {
	now := s.now()
	p := &orgd.MoveProgress{OrgID: op.OrgID, Name: name, From: s.source(op).placement(), To: s.target(op).placement(),
		Copied: op.Copied, Total: max(op.Total, op.Copied), StartedAt: op.StartedAt, Checksum: op.Checksum, Error: op.Error}
	switch op.Phase {
	case "":
		p.Phase = "copying"
		if secs := now.Sub(op.CopyStartedAt).Seconds(); secs > 0 && op.Copied > 0 {
			p.Rate = float64(op.Copied) / secs
			p.Remaining = time.Duration(float64(p.Total-p.Copied) / p.Rate * float64(time.Second))
		}
	case phaseCatchUp:
		p.Phase = "catching up"
	case phasePaused:
		p.Phase = "paused"
	case phaseSwitched:
		p.Phase = "switched"
	case phaseUndo:
		p.Phase = "undoing"
	}
	p.Paused = op.paused(now)
	return p
}

// OrganizationByAnyName returns the organization called name in any state
// but creating, for operators: a busy organization is returned, not refused.
func (s *Store) OrganizationByAnyName(ctx context.Context, name string) (*orgd.Organization, error) {
	var k keyDoc
	if ok, err := findByID(ctx, s.names(), orgd.NormalizeName(name), &k); err != nil {
		return nil, err
	} else if !ok {
		return nil, notFound(name)
	}
	var d orgDoc
	err := s.orgs().FindOne(ctx, bson.D{{Key: "_id", Value: k.OrgID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || err == nil && (d.Status == stCreating || d.NameKey != k.ID && d.Status == stActive) {
		return nil, notFound(name)
	} else if err != nil {
		return nil, translate(err)
	}
	return d.domain(s.deps.home), nil
}
