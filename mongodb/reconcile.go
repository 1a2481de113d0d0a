package mongodb

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Reconcile finishes or undoes every operation whose owner has stopped
// renewing its lease (crashed, killed, cut off), then repairs what a dead
// process's late writes can leave behind. It is safe on several instances at
// once: an operation is adopted by compare-and-set on its journal entry. It
// returns one line per thing it did.
func (s *Store) Reconcile(ctx context.Context) ([]string, error) {
	probs, err := s.Check(ctx)
	if err != nil {
		return nil, err
	}
	var did []string
	for _, p := range probs {
		if !p.Auto {
			continue
		}
		msg, err := p.Repair(ctx)
		if err != nil {
			return did, fmt.Errorf("%s: %w", p.Text, err)
		}
		if msg != "" {
			did = append(did, msg)
		}
	}
	return did, nil
}

// RunReconciler calls Reconcile now and then every interval until ctx ends,
// logging what it repaired.
func (s *Store) RunReconciler(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		did, err := s.Reconcile(ctx)
		for _, d := range did {
			log.Info("reconciler", "repaired", d)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("reconciler", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// adopt takes over an operation whose lease expired more than the grace
// period ago. It returns nil when another process adopted it first or it
// finished meanwhile.
func (s *Store) adopt(ctx context.Context, d orgDoc) (*run, error) {
	now := s.now()
	oldID, newID, until := d.Op.ID, s.newID(), now.Add(s.lease)
	filter := bson.D{{Key: "_id", Value: d.ID}, {Key: "op.id", Value: oldID}, {Key: "op.lease_until", Value: bson.D{{Key: "$lt", Value: now.Add(-s.grace)}}}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "op.id", Value: newID}, {Key: "op.lease_until", Value: until}}}}
	res, err := s.orgs().UpdateOne(ctx, filter, update)
	if err != nil {
		return nil, translate(err)
	}
	if res.MatchedCount == 0 {
		return nil, nil
	}
	d.Op.ID, d.Op.LeaseUntil = newID, until
	return &run{s: s, d: d}, nil
}

// resume carries an adopted operation to its end: an interrupted create is
// undone (its client never got a 201), an update is finished unless a key it
// needs is taken, a delete is finished.
func (r *run) resume(ctx context.Context) (string, error) {
	name := fmt.Sprintf("organization %q (%s)", r.d.Name, r.d.ID)
	switch r.op().Kind {
	case opCreate:
		return "undid the interrupted create of " + name, r.undoCreate(ctx)
	case opUpdate:
		err := r.update(ctx)
		if orgd.ErrorCode(err) == orgd.ECONFLICT {
			return "undid the interrupted update of " + name + ": " + orgd.ErrorMessage(err), nil
		}
		return "finished the interrupted update of " + name, err
	case opDelete:
		return "finished the interrupted delete of " + name, r.delete(ctx)
	}
	return "", fmt.Errorf("%s: unknown operation %q", name, r.op().Kind)
}
