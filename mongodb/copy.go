package mongodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// tenantColls lists, sorted, the collections holding an organization's data
// at p: its main collection in the collection model (none if it is absent),
// every collection of its database in the database model.
func (s *Store) tenantColls(ctx context.Context, p place) ([]string, error) {
	db, err := s.database(p)
	if err != nil {
		return nil, err
	}
	filter := bson.D{}
	if p.Tenancy != tenancyDatabase {
		filter = bson.D{{Key: "name", Value: p.Collection}}
	}
	names, err := db.ListCollectionNames(ctx, filter)
	if err != nil {
		return nil, translate(err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "system.") })
	slices.Sort(names)
	return names, nil
}

// mapColl names the collection at dst that holds collection c of src: the
// main collection follows the organization's name, the others keep theirs.
func mapColl(src, dst place, c string) string {
	if c == src.Collection {
		return dst.Collection
	}
	return c
}

// fits reports an error when src holds collections that dst cannot: the
// collection model keeps one collection per organization.
func fits(src, dst place, colls []string) error {
	if dst.Tenancy == tenancyDatabase {
		return nil
	}
	for _, c := range colls {
		if c != src.Collection {
			return fmt.Errorf("database %s holds collection %s besides %s: the collection model keeps only one", src.Database, c, src.Collection)
		}
	}
	return nil
}

// copyTenant copies an organization's data from src to dst, where
// renameCollection cannot go (another database or deployment): collection by
// collection in name order, indexes first, then documents in _id order in
// batches, journaling after each batch the last _id copied so that a resumed
// run starts after it. Documents already there (a batch copied before a
// crash, but not journaled) are skipped: _ids are preserved. With verify (a
// rename, which holds the organization busy), each collection's copy is then
// made equal to its source document by document and checked by count and
// checksum: a writer that read the organization before the rename may still
// have deleted or added a document there (settle, in settle.go, makes its
// write again in the new place). Without, the source is being written (a
// move): each collection's copy stops after as many documents as it held
// when its copy began, so that writers cannot keep it going forever, and the
// move's catch-up passes copy the rest.
func (r *run) copyTenant(ctx context.Context, src, dst place, verify bool) error {
	op := r.op
	if err := r.step(ctx, "copy_indexes"); err != nil {
		return err
	}
	colls, err := r.s.tenantColls(ctx, src)
	if err != nil {
		return err
	}
	if err := fits(src, dst, colls); err != nil {
		return err
	}
	sdb, err := r.s.database(src)
	if err != nil {
		return err
	}
	ddb, err := r.s.database(dst)
	if err != nil {
		return err
	}
	for _, c := range colls {
		if c < op.CopyColl {
			continue // copied before a crash
		}
		from, to := sdb.Collection(c), ddb.Collection(mapColl(src, dst, c))
		if c == op.CopyColl && op.CollCopied > 0 && op.CollLast.IsZero() {
			// Journaled by a version that counted its place: start the
			// collection again (what is there already is skipped).
			op.Copied, op.CollCopied = max(op.Copied-op.CollCopied, 0), 0
		}
		if c != op.CopyColl {
			op.CopyColl, op.CollCopied, op.CollLast, op.CollTarget = c, 0, bson.RawValue{}, 0
			if !verify {
				n, err := from.EstimatedDocumentCount(ctx)
				if err != nil {
					return translate(err)
				}
				op.CollTarget = max(n, 1)
			}
		}
		if err := copyIndexes(ctx, from, to); err != nil {
			return err
		}
		if err := r.copyDocs(ctx, from, to); err != nil {
			return err
		}
		if verify {
			if err := r.step(ctx, "verify_copy"); err != nil {
				return err
			}
			got, err := r.syncColl(ctx, from, to)
			if err != nil {
				return err
			}
			if err := got.verify(fmt.Sprintf("copy of %s.%s", from.Database().Name(), from.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyDocs copies from's documents to to, in _id order, from after
// op.CollLast on, up to op.CollTarget of them when it is set. Pages start
// after an _id rather than at a position: a document deleted from the part
// already copied would otherwise shift the rest, and one would be skipped.
func (r *run) copyDocs(ctx context.Context, from, to *mongo.Collection) error {
	op := r.op
	for op.CollTarget == 0 || op.CollCopied < op.CollTarget {
		if err := r.step(ctx, "copy_batch"); err != nil {
			return err
		}
		opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(r.s.batch))
		cur, err := from.Find(ctx, idsAfter(op.CollLast), opts)
		if err != nil {
			return translate(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			return translate(err)
		}
		if len(docs) == 0 {
			return nil
		}
		if err := insertAll(ctx, to, docs); err != nil {
			return err
		}
		last := docs[len(docs)-1].Lookup("_id")
		op.CollLast = bson.RawValue{Type: last.Type, Value: append([]byte(nil), last.Value...)}
		op.CollCopied += int64(len(docs))
		op.Copied += int64(len(docs))
		if err := r.setOp(ctx, bson.D{{Key: "copy_coll", Value: op.CopyColl}, {Key: "coll_copied", Value: op.CollCopied},
			{Key: "coll_last", Value: op.CollLast}, {Key: "coll_target", Value: op.CollTarget}, {Key: "copied", Value: op.Copied}}); err != nil {
			return err
		}
	}
	return nil
}

// idsAfter is the filter of the documents whose _id sorts after last (all
// when last is zero). $gt only matches _ids of last's own type bracket
// (numbers, strings, ...), so the brackets that sort later are added by type.
func idsAfter(last bson.RawValue) bson.D {
	if last.IsZero() {
		return bson.D{}
	}
	gt := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: last}}}}
	later := laterIDTypes(last.Type)
	if len(later) == 0 {
		return gt
	}
	return bson.D{{Key: "$or", Value: bson.A{gt, bson.D{{Key: "_id", Value: bson.D{{Key: "$type", Value: later}}}}}}}
}

// laterIDTypes returns the $type aliases of the _id types that sort after
// type t. The brackets are MongoDB's sort order, limited to the types
// FerretDB knows; a document of another type that a page misses is still
// carried by the sync that follows every copy.
func laterIDTypes(t bson.Type) bson.A {
	brackets := []struct {
		types   []bson.Type
		aliases []string
	}{
		{[]bson.Type{bson.TypeNull}, []string{"null"}},
		{[]bson.Type{bson.TypeDouble, bson.TypeInt32, bson.TypeInt64, bson.TypeDecimal128}, []string{"double", "int", "long"}},
		{[]bson.Type{bson.TypeString, bson.TypeSymbol}, []string{"string"}},
		{[]bson.Type{bson.TypeEmbeddedDocument}, []string{"object"}},
		{[]bson.Type{bson.TypeBinary}, []string{"binData"}},
		{[]bson.Type{bson.TypeObjectID}, []string{"objectId"}},
		{[]bson.Type{bson.TypeBoolean}, []string{"bool"}},
		{[]bson.Type{bson.TypeDateTime}, []string{"date"}},
		{[]bson.Type{bson.TypeTimestamp}, []string{"timestamp"}},
		{[]bson.Type{bson.TypeRegex}, []string{"regex"}},
	}
	var later bson.A
	found := false
	for _, b := range brackets {
		if found {
			for _, a := range b.aliases {
				later = append(later, a)
			}
		}
		found = found || slices.Contains(b.types, t)
	}
	return later
}

// insertAll inserts docs, unordered, skipping those already there.
func insertAll(ctx context.Context, to *mongo.Collection, docs []bson.Raw) error {
	if len(docs) == 0 {
		return nil
	}
	batch := make([]any, len(docs))
	for i, d := range docs {
		batch[i] = d
	}
	err := retry(ctx, func() error {
		_, err := to.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
		return err
	})
	if err != nil && !onlyDuplicates(err) {
		return translate(err)
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
