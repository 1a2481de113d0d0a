package mongodb

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CountByStatus returns how many organizations are in each state; every known
// state is present, with zero when none is in it. It reads the whole
// organizations collection, so call it seldom (the metrics cache it).
func (s *Store) CountByStatus(ctx context.Context) (map[string]int, error) {
	// One accumulator per $group stage: FerretDB computes only the first.
	cur, err := s.orgs().Aggregate(ctx, bson.A{
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$status"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, translate(err)
	}
	var rows []struct {
		Status string `bson:"_id"`
		N      int    `bson:"n"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, translate(err)
	}
	out := map[string]int{}
	for _, st := range []string{stActive, stCreating, stUpdating, stDeleting, stMoving} {
		out[st] = 0
	}
	for _, r := range rows {
		out[r.Status] += r.N
	}
	return out, nil
}
