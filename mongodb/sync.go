package mongodb

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// synced is what a sync saw: the source's documents and their checksum, the
// copy's documents and their checksum once fixed (each document of the copy
// read from the copy: those found equal during the pass, and those it
// rewrote, read back), and how many documents of the copy it fixed.
type synced struct {
	n, dn     int64
	sum, dsum uint64
	fixed     int
}

func (a *synced) add(b synced) {
	a.n, a.dn, a.sum, a.dsum, a.fixed = a.n+b.n, a.dn+b.dn, a.sum+b.sum, a.dsum+b.dsum, a.fixed+b.fixed
}

// verify returns nil when the copy matched the source by count and
// checksum, else an error saying how, about what was copied.
func (a synced) verify(what string) error {
	if a.n == a.dn && a.sum == a.dsum {
		return nil
	}
	return fmt.Errorf("%s: the copy holds %d documents (checksum %016x), the source %d (%016x)", what, a.dn, a.dsum, a.n, a.sum)
}

// sync makes a move's copy equal to its source, collection by collection:
// both sides are read in _id order and compared document by document, then
// the documents missing or different in the copy are copied again from the
// source and read back, and those the source no longer has are deleted.
// FerretDB has no change streams, so this comparison is how orgd finds the
// writes made during the copy. While writes go on it is a catch-up; with
// them paused it is exact, and its counts and checksums verify the copy.
func (r *run) sync(ctx context.Context) (synced, error) {
	var total synced
	src, dst := r.s.source(r.op), r.s.target(r.op)
	colls, err := r.s.tenantColls(ctx, src)
	if err != nil {
		return total, err
	}
	if err := fits(src, dst, colls); err != nil {
		return total, err
	}
	sdb, err := r.s.database(src)
	if err != nil {
		return total, err
	}
	ddb, err := r.s.database(dst)
	if err != nil {
		return total, err
	}
	mapped := map[string]bool{}
	for _, c := range colls {
		mapped[mapColl(src, dst, c)] = true
	}
	if dst.Tenancy == tenancyDatabase { // a collection the organization dropped meanwhile goes too
		have, err := r.s.tenantColls(ctx, dst)
		if err != nil {
			return total, err
		}
		for _, c := range have {
			if !mapped[c] {
				if err := translate(ddb.Collection(c).Drop(ctx)); err != nil {
					return total, err
				}
			}
		}
	}
	for _, c := range colls {
		from, to := sdb.Collection(c), ddb.Collection(mapColl(src, dst, c))
		if err := copyIndexes(ctx, from, to); err != nil {
			return total, err
		}
		got, err := r.syncColl(ctx, from, to)
		if err != nil {
			return total, err
		}
		total.add(got)
	}
	return total, nil
}

// docHash is the checksum of one document; a collection's checksum is the
// sum of its documents', which does not depend on their order.
func docHash(doc bson.Raw) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(doc)
	return h.Sum64()
}

// idKey identifies a document by its _id's type and bytes.
func idKey(doc bson.Raw) (string, bson.RawValue) {
	v := doc.Lookup("_id")
	return rawKey(v), v
}

func rawKey(v bson.RawValue) string { return string(append([]byte{byte(v.Type)}, v.Value...)) }

type seen struct {
	id   bson.RawValue
	hash uint64
}

// syncColl makes to equal to from. Both sides are read in _id order; should
// the two deployments order _ids differently, documents met on one side wait
// in a map until met on the other, so the result is right either way.
func (r *run) syncColl(ctx context.Context, from, to *mongo.Collection) (synced, error) {
	var res synced
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(int32(r.s.batch))
	scur, err := from.Find(ctx, bson.D{}, opts)
	if err != nil {
		return res, translate(err)
	}
	defer scur.Close(context.WithoutCancel(ctx))
	dcur, err := to.Find(ctx, bson.D{}, opts)
	if err != nil {
		return res, translate(err)
	}
	defer dcur.Close(context.WithoutCancel(ctx))

	onlySrc, onlyDst := map[string]seen{}, map[string]seen{}
	var recopy []bson.RawValue // missing or different in the copy
	same := func(h uint64) { res.dn, res.dsum = res.dn+1, res.dsum+h }
	sOK, dOK := scur.Next(ctx), dcur.Next(ctx)
	for sOK || dOK {
		var sk, dk string
		var sid, did bson.RawValue
		var sh uint64
		if sOK {
			sk, sid = idKey(scur.Current)
			sh = docHash(scur.Current)
			res.n, res.sum = res.n+1, res.sum+sh
			if res.n%int64(r.s.batch) == 0 {
				if err := r.step(ctx, "sync_batch"); err != nil {
					return res, err
				}
			}
		}
		if dOK {
			dk, did = idKey(dcur.Current)
		}
		switch {
		case sOK && dOK && sk == dk:
			if bytes.Equal(scur.Current, dcur.Current) {
				same(sh)
			} else {
				recopy = append(recopy, sid)
			}
		default:
			if sOK {
				if d, ok := onlyDst[sk]; ok {
					delete(onlyDst, sk)
					if d.hash == sh {
						same(sh)
					} else {
						recopy = append(recopy, sid)
					}
				} else {
					onlySrc[sk] = seen{sid, sh}
				}
			}
			if dOK {
				h := docHash(dcur.Current)
				if s, ok := onlySrc[dk]; ok {
					delete(onlySrc, dk)
					if s.hash == h {
						same(h)
					} else {
						recopy = append(recopy, did)
					}
				} else {
					onlyDst[dk] = seen{did, h}
				}
			}
		}
		if sOK {
			sOK = scur.Next(ctx)
		}
		if dOK {
			dOK = dcur.Next(ctx)
		}
	}
	if err := scur.Err(); err != nil {
		return res, translate(err)
	}
	if err := dcur.Err(); err != nil {
		return res, translate(err)
	}
	for _, s := range onlySrc {
		recopy = append(recopy, s.id)
	}
	for _, d := range onlyDst { // the source no longer has them: recopy deletes them
		recopy = append(recopy, d.id)
	}
	res.fixed = len(recopy)
	dn, dsum, err := r.recopy(ctx, from, to, recopy)
	res.dn, res.dsum = res.dn+dn, res.dsum+dsum
	return res, err
}

// recopy copies the documents with ids from from to to again: in batches,
// the copy's versions are deleted and the source's inserted (two bulk writes
// rather than one replace per document; the copy serves no one yet), then
// read back. Ids the source no longer has end up deleted from the copy. It
// returns the number and checksum of the documents read back.
func (r *run) recopy(ctx context.Context, from, to *mongo.Collection, ids []bson.RawValue) (n int64, sum uint64, err error) {
	for chunk := range slices.Chunk(ids, r.s.batch) {
		if err := r.step(ctx, "sync_batch"); err != nil {
			return 0, 0, err
		}
		in := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}}
		docs, err := findAll(ctx, from, in)
		if err != nil {
			return 0, 0, err
		}
		if err := translate(retry(ctx, func() error {
			_, err := to.DeleteMany(ctx, in)
			return err
		})); err != nil {
			return 0, 0, err
		}
		if err := insertAll(ctx, to, docs); err != nil {
			return 0, 0, err
		}
		back, err := findAll(ctx, to, in)
		if err != nil {
			return 0, 0, err
		}
		for _, d := range back {
			n, sum = n+1, sum+docHash(d)
		}
	}
	return n, sum, nil
}

func findAll(ctx context.Context, c *mongo.Collection, filter bson.D) ([]bson.Raw, error) {
	cur, err := c.Find(ctx, filter)
	if err != nil {
		return nil, translate(err)
	}
	var docs []bson.Raw
	return docs, translate(cur.All(ctx, &docs))
}

// checksum reads the copy at dst of every source collection and returns
// the number of its documents and their checksum; with dst the source
// itself, the source's.
func (r *run) checksum(ctx context.Context, src, dst place) (n int64, sum uint64, err error) {
	colls, err := r.s.tenantColls(ctx, src)
	if err != nil {
		return 0, 0, err
	}
	ddb, err := r.s.database(dst)
	if err != nil {
		return 0, 0, err
	}
	for _, c := range colls {
		cur, err := ddb.Collection(mapColl(src, dst, c)).Find(ctx, bson.D{}, options.Find().SetBatchSize(int32(r.s.batch)))
		if err != nil {
			return 0, 0, translate(err)
		}
		for cur.Next(ctx) {
			n++
			sum += docHash(cur.Current)
		}
		err = cur.Err()
		_ = cur.Close(context.WithoutCancel(ctx))
		if err != nil {
			return 0, 0, translate(err)
		}
	}
	return n, sum, nil
}
