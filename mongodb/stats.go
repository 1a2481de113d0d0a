package mongodb

import (
	"context"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// CountByStatus returns how many organizations are in each state; every known
// state is present, with zero when none is in it.
//
// It reads no organization but those with an operation in flight, so that a
// metrics scrape costs the same with 10 or 10,000 of them. The total comes
// from the collection's own statistics, and an organization is active unless
// the journal holds an operation for it: an operation is journaled before it
// changes its organization's status, and deleted after it sets it back (the
// sweep reports an organization for which that does not hold). The reads are
// not one snapshot: an operation that starts or ends between them can be
// off by one for that scrape, as any gauge read while it changes.
func (s *Store) CountByStatus(ctx context.Context) (map[string]int, error) {
	total, err := s.countOrgs(ctx)
	if err != nil {
		return nil, err
	}
	ops, err := all[opDoc](ctx, s.ops())
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, st := range []string{stActive, stCreating, stUpdating, stDeleting, stMoving} {
		out[st] = 0
	}
	busy := 0
	for _, op := range ops {
		var d orgDoc
		found, err := cachedFind(ctx, s, s.orgs(), op.OrgID, &d)
		if err != nil {
			return nil, err
		}
		if found && d.Status != stActive {
			out[d.Status]++
			busy++
		}
	}
	out[stActive] = max(0, total-busy)
	return out, nil
}

// countOrgs returns how many organizations there are from the collection's
// statistics ($collStats count), which MongoDB keeps in its metadata and
// FerretDB's SQLite backend counts from the table's pages: neither reads a
// document (a $group over the collection took 0.8 to 1.0 s at 10,000
// organizations on the embedded database, idle, and about 70 MiB of memory
// for 2 s under load; this took 24 to 38 ms). A sharded collection answers
// with one count per shard.
func (s *Store) countOrgs(ctx context.Context) (int, error) {
	cur, err := s.orgs().Aggregate(ctx, bson.A{bson.D{{Key: "$collStats", Value: bson.D{{Key: "count", Value: bson.D{}}}}}})
	if hasCode(err, codeNamespaceNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, translate(err)
	}
	var shards []struct {
		Count int64 `bson:"count"`
	}
	if err := cur.All(ctx, &shards); err != nil {
		return 0, translate(err)
	}
	n := int64(0)
	for _, sh := range shards {
		n += sh.Count
	}
	return int(n), nil
}

// PlacementStats describes every configured deployment: its tenants, and the
// collections, indexes and data of all its databases. A deployment that
// cannot be reached is reported as such, not as an error.
func (s *Store) PlacementStats(ctx context.Context) ([]orgd.DeploymentStats, error) {
	counts, err := s.countTenants(ctx)
	if err != nil {
		return nil, err
	}
	drain, err := s.draining(ctx)
	if err != nil {
		return nil, err
	}
	var out []orgd.DeploymentStats
	for _, name := range s.deps.names {
		st := orgd.DeploymentStats{Name: name, Home: name == s.deps.home, Draining: drain[name], Tenants: counts[name]}
		if err := s.storageStats(ctx, name, &st); err != nil {
			s.log.Warn("placement stats", "deployment", name, "err", err)
			st.Error = "its statistics could not be read (see the log)"
			if unavailable(err) {
				st.Error = "unreachable: " + orgd.ErrorMessage(translate(err))
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Store) storageStats(ctx context.Context, name string, st *orgd.DeploymentStats) error {
	c := s.deps.clients[name]
	dbs, err := s.databaseNames(ctx, name)
	if err != nil {
		return err
	}
	for _, db := range dbs {
		if db == "admin" || db == "local" || db == "config" {
			continue
		}
		var r struct { // numbers of any BSON type: MongoDB sends doubles for scaled sizes
			Collections float64 `bson:"collections"`
			Indexes     float64 `bson:"indexes"`
			DataSize    float64 `bson:"dataSize"`
			StorageSize float64 `bson:"storageSize"`
		}
		if err := c.Database(db).RunCommand(ctx, bson.D{{Key: "dbStats", Value: 1}}).Decode(&r); hasCode(err, codeNamespaceNotFound) {
			continue // dropped meanwhile
		} else if err != nil {
			return err // refused, or failed: figures without it would look whole
		}
		st.Databases++
		st.Collections += int64(r.Collections)
		st.Indexes += int64(r.Indexes)
		st.DataSize += int64(r.DataSize)
		st.StorageSize += int64(r.StorageSize)
	}
	return nil
}
