package mongodb

import (
	"context"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// PruneAuth deletes what authentication no longer needs: expired sessions,
// refresh tokens and revocations; the audit events of each organization that
// no longer exists once its last event (its deletion) is older than
// retention; and events of no organization older than retention. It returns
// how many documents it deleted.
func (s *Store) PruneAuth(ctx context.Context, retention time.Duration) (int64, error) {
	now := s.now()
	expired := bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: now}}}}
	n, err := s.pruneRevocations(ctx, expired)
	if err != nil {
		return n, err
	}
	for _, c := range []*mongo.Collection{s.refresh(), s.spent(), s.sessions()} {
		k, err := deleteMany(ctx, c, expired)
		if n += k; err != nil {
			return n, err
		}
	}
	cutoff := now.Add(-retention)
	k, err := deleteMany(ctx, s.audit(), bson.D{{Key: "org_id", Value: ""}, {Key: "at", Value: bson.D{{Key: "$lt", Value: cutoff}}}})
	if n += k; err != nil {
		return n, err
	}
	// Only an organization with an event past the retention can lose its
	// log. Most rounds find none, and then neither the whole log nor every
	// organization is read: on the embedded database those reads cost
	// memory in proportion to both. Once a live organization's log reaches
	// past the retention, every round would find one: so the log is read
	// whole at most once per auditSweepEvery (or retention, if shorter), and
	// a deleted organization's log may outlive its retention by that much.
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	if !s.auditSwept.IsZero() && now.Sub(s.auditSwept) < min(auditSweepEvery, retention) {
		return n, nil
	}
	old, err := findIDs(ctx, s.audit(), bson.D{{Key: "org_id", Value: bson.D{{Key: "$ne", Value: ""}}},
		{Key: "at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}, 1)
	if err != nil || len(old) == 0 {
		return n, err
	}
	audited, err := s.auditedOrgs(ctx)
	if err != nil {
		return n, err
	}
	live, err := s.orgIDs(ctx)
	if err != nil {
		return n, err
	}
	for id, last := range audited {
		if live[id] || !last.Before(cutoff) {
			continue // a live organization keeps its log, a deleted one for retention
		}
		rng := bson.D{{Key: "$gt", Value: auditKey(id, "")}, {Key: "$lt", Value: auditKey(id, "~")}}
		k, err := deleteMany(ctx, s.audit(), bson.D{{Key: "_id", Value: rng}})
		if n += k; err != nil {
			return n, err
		}
	}
	s.auditSwept = now // only a whole pass: one cut short is made again next round
	return n, nil
}

// auditSweepEvery is the least time between two reads of the whole audit
// log by the pruner.
const auditSweepEvery = 24 * time.Hour

func deleteMany(ctx context.Context, c *mongo.Collection, filter bson.D) (int64, error) {
	var n int64
	err := retry(ctx, func() error {
		res, err := c.DeleteMany(ctx, filter)
		if res != nil {
			n = res.DeletedCount
		}
		return err
	})
	return n, translate(err)
}

// RunPruner runs PruneAuth now and then every interval until ctx ends.
func (s *Store) RunPruner(ctx context.Context, interval, retention time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.PruneAuth(ctx, retention)
		if err != nil && ctx.Err() == nil {
			logger.Warn("prune expired sessions and audit events", "err", err)
		} else if n > 0 {
			logger.Debug("pruned expired sessions and audit events", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// orgIDs returns the ids of every organization record, in one read.
func (s *Store) orgIDs(ctx context.Context) (map[string]bool, error) {
	ids, err := findIDs(ctx, s.orgs(), bson.D{}, 0)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// findIDs returns the _ids of the documents of c that filter matches, at
// most limit of them (0: all).
func findIDs(ctx context.Context, c *mongo.Collection, filter bson.D, limit int64) ([]string, error) {
	cur, err := c.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, translate(err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, translate(err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}

// auditedOrgs returns the organizations that have events, each with the time
// of its last one, in one read of the log: reading each organization's last
// event on its own would scan the log once per organization on the embedded
// database, for every deleted organization at every round. (FerretDB's
// distinct answers what the driver cannot decode: the ids are read instead.)
func (s *Store) auditedOrgs(ctx context.Context) (map[string]time.Time, error) {
	cur, err := s.audit().Find(ctx, bson.D{{Key: "org_id", Value: bson.D{{Key: "$ne", Value: ""}}}},
		options.Find().SetProjection(bson.D{{Key: "org_id", Value: 1}, {Key: "at", Value: 1}}))
	if err != nil {
		return nil, translate(err)
	}
	defer cur.Close(ctx)
	last := map[string]time.Time{}
	for cur.Next(ctx) {
		var d struct {
			OrgID string    `bson:"org_id"`
			At    time.Time `bson:"at"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		if at, ok := last[d.OrgID]; !ok || d.At.After(at) {
			last[d.OrgID] = d.At
		}
	}
	return last, translate(cur.Err())
}

// pruneRevocations deletes the expired revocations, each once its session
// and refresh tokens are gone: a revocation interrupted after its first step
// left them, and without its record they would log in again. Such a
// revocation never read its login's tokens_until either, so it is first made
// to last as long as they say. It works in batches of pruneBatch, a read and
// three deletes each.
func (s *Store) pruneRevocations(ctx context.Context, expired bson.D) (int64, error) {
	var n int64
	for {
		found, err := findIDs(ctx, s.revoked(), expired, pruneBatch)
		if err != nil {
			return n, err
		}
		if len(found) == 0 {
			return n, nil
		}
		ids := make(bson.A, 0, len(found))
		longer, err := s.tokensOutliving(ctx, found)
		if err != nil {
			return n, err
		}
		for _, id := range found {
			if until, ok := longer[id]; ok {
				// Its tokens were never read: an access token an instance
				// with a longer lifetime issued still passes until then.
				if err := s.keepRevocation(ctx, id, until); err != nil {
					return n, err
				}
				continue
			}
			ids = append(ids, id)
		}
		in := bson.D{{Key: "$in", Value: ids}}
		if _, err := deleteMany(ctx, s.sessions(), bson.D{{Key: "_id", Value: in}}); err != nil {
			return n, err
		}
		if _, err := deleteMany(ctx, s.refresh(), bson.D{{Key: "session_id", Value: in}}); err != nil {
			return n, err
		}
		// Still expired: an exchange may have made one last longer meanwhile.
		k, err := deleteMany(ctx, s.revoked(), append(bson.D{{Key: "_id", Value: in}}, expired...))
		if n += k; err != nil || len(found) < pruneBatch {
			return n, err
		}
	}
}

// pruneBatch is how many expired revocations one round of pruning reads.
const pruneBatch = 1000
