package mongodb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// copyCollection copies the tenant collection to another database, where
// renameCollection cannot go: indexes first, then documents in _id order in
// batches, journaling after each batch how many were copied so that a resumed
// run starts from the last batch. The source is frozen meanwhile (the
// organization is busy), and is dropped only after the record has switched.
func (r *run) copyCollection(ctx context.Context) error {
	op := r.op
	src := r.s.client.Database(op.OldDatabase).Collection(op.OldCollection)
	dst := r.s.client.Database(op.NewDatabase).Collection(op.NewCollection)
	if err := r.step(ctx, "copy_indexes"); err != nil {
		return err
	}
	if err := copyIndexes(ctx, src, dst); err != nil {
		return err
	}
	for {
		if err := r.step(ctx, "copy_batch"); err != nil {
			return err
		}
		opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(op.Copied).SetLimit(int64(r.s.batch))
		cur, err := src.Find(ctx, bson.D{}, opts)
		if err != nil {
			return translate(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			return translate(err)
		}
		if len(docs) == 0 {
			break
		}
		batch := make([]any, len(docs))
		for i, d := range docs {
			batch[i] = d
		}
		// Unordered, and documents already there (from a batch copied before a
		// crash, but not journaled) are skipped: _ids are preserved.
		_, err = dst.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		if err != nil && !onlyDuplicates(err) {
			return translate(err)
		}
		op.Copied += int64(len(docs))
		if err := r.setOp(ctx, bson.D{{Key: "copied", Value: op.Copied}}); err != nil {
			return err
		}
	}
	if err := r.step(ctx, "verify_copy"); err != nil {
		return err
	}
	ns, err := src.CountDocuments(ctx, bson.D{})
	if err != nil {
		return translate(err)
	}
	nd, err := dst.CountDocuments(ctx, bson.D{})
	if err != nil {
		return translate(err)
	}
	if ns != nd {
		return fmt.Errorf("copy of %s.%s: %d documents in the source, %d in the copy", op.OldDatabase, op.OldCollection, ns, nd)
	}
	return nil
}

// copyIndexes creates on dst every index of src but _id's, with the same
// specification; creating an existing index again is a no-op.
func copyIndexes(ctx context.Context, src, dst *mongo.Collection) error {
	cur, err := src.Indexes().List(ctx)
	if err != nil {
		return translate(err)
	}
	var specs []bson.D
	if err := cur.All(ctx, &specs); err != nil {
		return translate(err)
	}
	var indexes bson.A
	for _, spec := range specs {
		var keep bson.D
		for _, e := range spec {
			if e.Key != "v" && e.Key != "ns" {
				keep = append(keep, e)
			}
		}
		if name, _ := lookupString(keep, "name"); name != "_id_" {
			indexes = append(indexes, keep)
		}
	}
	if err := dst.Database().CreateCollection(ctx, dst.Name()); err != nil && !hasCode(err, codeNamespaceExists) {
		return translate(err)
	}
	if len(indexes) == 0 {
		return nil
	}
	cmd := bson.D{{Key: "createIndexes", Value: dst.Name()}, {Key: "indexes", Value: indexes}}
	return translate(dst.Database().RunCommand(ctx, cmd).Err())
}

func lookupString(d bson.D, key string) (string, bool) {
	for _, e := range d {
		if e.Key == key {
			s, ok := e.Value.(string)
			return s, ok
		}
	}
	return "", false
}

// onlyDuplicates reports whether every write error in err is a duplicate key.
func onlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}
