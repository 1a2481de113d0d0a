package mongodb

import (
	"context"
	"testing"
	"time"

	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestIDsAfterCrossesTypeBrackets pages, two documents at a time as copyDocs
// does, through a collection whose _ids have several types: $gt alone stays
// within one type, and every document must still be met exactly once.
func TestIDsAfterCrossesTypeBrackets(t *testing.T) {
	db := mongotest.New(t)
	ctx := context.Background()
	c := db.Client.Database(db.TenantDB).Collection("mixed")
	ids := []any{3, "b", 1.5, bson.NewObjectID(), "a", int64(7), bson.D{{Key: "x", Value: 1}}, true,
		time.UnixMilli(1_700_000_000_000).UTC(), bson.Binary{Data: []byte{1}}, nil}
	for _, id := range ids {
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	var last bson.RawValue
	for range len(ids) + 1 {
		cur, err := c.Find(ctx, idsAfter(last), options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(2))
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 {
			break
		}
		for _, d := range docs {
			seen[rawKey(d.Lookup("_id"))]++
		}
		last = docs[len(docs)-1].Lookup("_id")
	}
	if len(seen) != len(ids) {
		t.Errorf("met %d of %d documents", len(seen), len(ids))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("_id %q met %d times", k, n)
		}
	}
}
