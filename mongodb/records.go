package mongodb

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Records live in their organization's collection with a server-assigned,
// time-ordered string _id and an "_org" field naming the organization. Every
// query filters on "_org" as well as choosing the collection, so that even a
// write that raced a rename into a collection whose name was then reused
// never touches another organization's data.

func recordFilter(o *orgd.Organization, id string) bson.D {
	return bson.D{{Key: fieldID, Value: id}, {Key: fieldOrg, Value: o.ID}}
}

func recordNotFound(id string) error {
	return orgd.Errorf(orgd.ENOTFOUND, "Record %q does not exist in your organization.", id)
}

// usable checks that tenant data of o may be touched now.
func usable(o *orgd.Organization) error {
	if o.Status != orgd.StatusActive {
		return orgd.Errorf(orgd.ECONFLICT, "Organization %q is being changed; retry shortly.", o.Name)
	}
	return nil
}

// readable checks that tenant data of o may be read now: also while a move
// pauses its writes (its data is complete where o says, until the switch,
// and after it, where the record then says).
func readable(o *orgd.Organization) error {
	if o.Status.Readable() {
		return nil
	}
	return usable(o)
}

// newRecordID returns a new record id: a ULID, so ids sort by creation time.
func (s *Store) newRecordID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(s.now()), s.entropy).String()
}

// validRecordID reports whether id has the form of a record id.
// storedID is a record id as it is stored: ids are ULIDs, which read the
// same in either case, and are stored in upper case.
func storedID(id string) string {
	if validRecordID(id) {
		return strings.ToUpper(id)
	}
	return id
}

func validRecordID(id string) bool {
	_, err := ulid.ParseStrict(id)
	return err == nil && len(id) == ulid.EncodedSize
}

// CreateRecord stores a new record in the organization's collection and
// returns its id and the record as JSON.
func (s *Store) CreateRecord(ctx context.Context, o *orgd.Organization, body []byte) (string, []byte, error) {
	ctx, cancel := s.detachWrite(ctx)
	defer cancel()
	o, err := s.latest(ctx, o)
	if err != nil {
		return "", nil, err
	}
	if err := usable(o); err != nil {
		return "", nil, err
	}
	doc, err := decodeRecord(body)
	if err != nil {
		return "", nil, err
	}
	id := s.newRecordID()
	full := append(bson.D{{Key: fieldID, Value: id}, {Key: fieldOrg, Value: o.ID}}, doc...)
	out, err := renderRecord(full)
	if err != nil {
		return "", nil, err
	}
	if err := s.insert(ctx, s.tenantCollection(o), full); err != nil {
		return "", nil, translate(err)
	}
	if _, err := s.settle(ctx, o, s.relocate(ctx, o, []any{full})); err != nil {
		return "", nil, err
	}
	return id, out, nil
}

// GetRecord returns one record of the organization as JSON.
func (s *Store) GetRecord(ctx context.Context, o *orgd.Organization, id string) ([]byte, error) {
	id = storedID(id)
	if err := readable(o); err != nil {
		return nil, err
	}
	var out []byte
	_, err := s.atCurrent(ctx, o, func(o *orgd.Organization) error {
		raw, err := s.tenantCollection(o).FindOne(ctx, bson.D{{Key: fieldID, Value: id}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return recordNotFound(id)
		} else if err != nil {
			return translate(err)
		}
		if org, _ := raw.Lookup(fieldOrg).StringValueOK(); org != o.ID { // a stray of another organization
			return recordNotFound(id)
		}
		out, err = appendRecord(nil, raw)
		return err
	})
	return out, err
}

// ReplaceRecord replaces a record's fields with body.
func (s *Store) ReplaceRecord(ctx context.Context, o *orgd.Organization, id string, body []byte) ([]byte, error) {
	ctx, cancel := s.detachWrite(ctx)
	defer cancel()
	id = storedID(id)
	o, err := s.latest(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := usable(o); err != nil {
		return nil, err
	}
	doc, err := decodeRecord(body)
	if err != nil {
		return nil, err
	}
	full := append(bson.D{{Key: fieldID, Value: id}, {Key: fieldOrg, Value: o.ID}}, doc...)
	out, err := renderRecord(full)
	if err != nil {
		return nil, err
	}
	replace := func(o *orgd.Organization) error {
		var res *mongo.UpdateResult
		err := retry(ctx, func() (err error) {
			res, err = s.tenantCollection(o).ReplaceOne(ctx, recordFilter(o, id), full)
			return err
		})
		if err != nil {
			return translate(err)
		}
		if res.MatchedCount == 0 {
			return recordNotFound(id)
		}
		return nil
	}
	o, err = s.atCurrent(ctx, o, replace)
	if err != nil {
		return nil, err
	}
	if _, err := s.settle(ctx, o, replace); err != nil {
		return nil, err
	}
	return out, nil
}

// PatchRecord applies a JSON merge patch (RFC 7396) to a record.
func (s *Store) PatchRecord(ctx context.Context, o *orgd.Organization, id string, patch []byte) ([]byte, error) {
	ctx, cancel := s.detachWrite(ctx)
	defer cancel()
	id = storedID(id)
	o, err := s.latest(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := usable(o); err != nil {
		return nil, err
	}
	p, err := decodeRecord(patch)
	if err != nil {
		return nil, err
	}
	var out []byte
	apply := func(o *orgd.Organization) error {
		c := s.tenantCollection(o)
		var cur bson.D
		err := c.FindOne(ctx, recordFilter(o, id)).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return recordNotFound(id)
		} else if err != nil {
			return translate(err)
		}
		full := mergePatch(cur, p)
		if err := checkFields(full); err != nil {
			return err
		}
		if out, err = renderRecord(full); err != nil {
			return err
		}
		var res *mongo.UpdateResult
		err = retry(ctx, func() (err error) {
			res, err = c.ReplaceOne(ctx, recordFilter(o, id), full)
			return err
		})
		if err != nil {
			return translate(err)
		}
		if res.MatchedCount == 0 {
			return recordNotFound(id)
		}
		return nil
	}
	o, err = s.atCurrent(ctx, o, apply)
	if err != nil {
		return nil, err
	}
	if _, err := s.settle(ctx, o, apply); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteRecord deletes a record.
func (s *Store) DeleteRecord(ctx context.Context, o *orgd.Organization, id string) error {
	ctx, cancel := s.detachWrite(ctx)
	defer cancel()
	id = storedID(id)
	o, err := s.latest(ctx, o)
	if err != nil {
		return err
	}
	if err := usable(o); err != nil {
		return err
	}
	del := func(o *orgd.Organization) error {
		var res *mongo.DeleteResult
		err := retry(ctx, func() (err error) {
			res, err = s.tenantCollection(o).DeleteOne(ctx, recordFilter(o, id))
			return err
		})
		if err != nil {
			return translate(err)
		}
		if res.DeletedCount == 0 {
			return recordNotFound(id)
		}
		return nil
	}
	o, err = s.atCurrent(ctx, o, del)
	if err != nil {
		return err
	}
	_, err = s.settle(ctx, o, func(o *orgd.Organization) error {
		if err := del(o); orgd.ErrorCode(err) != orgd.ENOTFOUND {
			return err
		}
		return nil
	})
	return err
}

// ListRecords returns a page of the organization's records in id order.
// Filters compare top-level fields with literal values only: a value such as
// {"$gt": ""} is a string to match, never an operator.
func (s *Store) ListRecords(ctx context.Context, o *orgd.Organization, q orgd.RecordQuery) (*orgd.RecordPage, error) {
	if err := readable(o); err != nil {
		return nil, err
	}
	o, err := s.current(ctx, o) // an empty page must not stand for records moved away
	if err != nil {
		return nil, err
	}
	// The data may have moved again since (a rename right after another):
	// an empty page follows it.
	var page *orgd.RecordPage
	if _, err := s.follow(ctx, o, func(o *orgd.Organization) (bool, error) {
		p, err := s.listAt(ctx, o, q)
		page = p
		return err == nil && len(p.Records) > 0, err
	}); err != nil {
		return nil, err
	}
	return page, nil
}

// listAt reads a page of records where o says the organization's data is.
func (s *Store) listAt(ctx context.Context, o *orgd.Organization, q orgd.RecordQuery) (*orgd.RecordPage, error) {
	filter := bson.D{{Key: fieldOrg, Value: o.ID}}
	if q.After != "" {
		filter = append(filter, bson.E{Key: fieldID, Value: bson.D{{Key: "$gt", Value: storedID(q.After)}}})
	}
	for _, f := range q.Where {
		// $exists: a null would also match records without the field.
		filter = append(filter, bson.E{Key: f.Field, Value: bson.D{{Key: "$in", Value: literals(f.Value)}, {Key: "$exists", Value: true}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: fieldID, Value: 1}}).SetLimit(int64(q.Limit) + 1)
	cur, err := s.tenantCollection(o).Find(ctx, filter, opts)
	if err != nil {
		return nil, translate(err)
	}
	defer cur.Close(ctx)
	page := &orgd.RecordPage{}
	last := ""
	for cur.Next(ctx) {
		if len(page.Records) == q.Limit { // there is more: the cursor is the last id shown
			page.Next = last
			break
		}
		b, err := appendRecord(nil, cur.Current)
		if err != nil {
			return nil, err
		}
		page.Records = append(page.Records, b)
		last, _ = cur.Current.Lookup(fieldID).StringValueOK()
	}
	return page, translate(cur.Err())
}

// literals are the values a query-string value can stand for: itself, and
// the JSON number, boolean or null it spells. Only JSON's numbers count:
// ParseFloat also reads "NaN", "Inf", "0x1p4" and "+1", and a NaN in a query
// makes FerretDB drop the connection.
func literals(v string) bson.A {
	out := bson.A{v}
	if v != "" && (v[0] == '-' || '0' <= v[0] && v[0] <= '9') && json.Valid([]byte(v)) {
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			out = append(out, i)
		} else if f, err := strconv.ParseFloat(v, 64); err == nil {
			out = append(out, f)
		}
	}
	switch v {
	case "true", "false":
		out = append(out, v == "true")
	case "null":
		out = append(out, nil)
	}
	return out
}

// settle checks, after a write to o's collection, that no operation started on
// the organization meanwhile. If one did (a rename or a delete raced the
// write), it waits for the operation to end and then makes the write land
// where the organization is now: redo is called with the organization as it
// is now. It returns the organization as it is now.
func (s *Store) settle(ctx context.Context, o *orgd.Organization, redo func(*orgd.Organization) error) (*orgd.Organization, error) {
	end := time.Now().Add(settleWait) // real time: this sleeps; one bound for every round
	for {
		now, redone, err := s.settleOnce(ctx, o, redo, end)
		if !redone || err != nil && orgd.ErrorCode(err) != orgd.ENOTFOUND {
			return now, err
		}
		// The redo went where the data was when the organization's record
		// was read; it may have moved on since (a second rename), taking the
		// write along or not: settle the redo in turn. One that found nothing
		// there is made again where the data went, or, if it has not moved,
		// found a record deleted after this write. The redo is in: no bound
		// answers 409 here (past end, settleOnce waits no more, and answers
		// 409 only for an operation still running; the write's context,
		// writeLimit, bounds a rename after rename after rename).
		o = now
	}
}

// settleOnce is one round of settle, waiting for an operation to end until
// end at most; redone says whether it called redo.
func (s *Store) settleOnce(ctx context.Context, o *orgd.Organization, redo func(*orgd.Organization) error, end time.Time) (_ *orgd.Organization, redone bool, _ error) {
	// The fast path reads only the journal and the tombstones, both small:
	// if no operation runs on the organization and none ended within the
	// tombstone window (longer than o, refreshed from the cache when the
	// write began, can be stale), then o still says where its data is.
	if quiet, err := s.quiet(ctx, o.ID); err != nil {
		return nil, false, err
	} else if quiet {
		return o, false, nil
	}
	var d orgDoc
	ok, err := findByID(ctx, s.orgs(), o.ID, &d)
	if err != nil {
		return nil, false, err
	}
	// A rename changes where the data is without changing the version, so
	// the place is compared too: a write that landed in the old place after
	// the rename must be made again in the new one.
	if ok && d.Version == o.Version && d.Status == stActive && samePlace(d.domain(s.deps.home), o) {
		return o, false, nil
	}
	// The write may already be in: answering 409 now would have a client that
	// retries store it twice. So wait out what a move's pause can take
	// (the drain and a final comparison: seconds), looking less often as it goes.
	wait := 50 * time.Millisecond
	for ok && d.Status != stActive && time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return nil, false, translate(ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
		if ok, err = findByID(ctx, s.orgs(), o.ID, &d); err != nil {
			return nil, false, err
		}
	}
	if !ok { // deleted meanwhile: whatever this write left behind goes too
		_, err := s.tenantCollection(o).DeleteMany(ctx, bson.D{{Key: fieldOrg, Value: o.ID}})
		if err != nil {
			return nil, false, translate(err)
		}
		return nil, false, orgd.Errorf(orgd.ENOTFOUND, "Organization %q was deleted.", o.Name)
	}
	if d.Status != stActive {
		// The write is in, somewhere: the operation may carry it along, or
		// drop it with the place it leaves. A plain 409 would tell the
		// client it was not made, and its retry could store it twice.
		return nil, false, orgd.Errorf(orgd.ECONFLICT, "Organization %q was still being %s after %v: this write may have been stored all the same; check before sending it again.",
			d.Name, busyWhat(&d), settleWait)
	}
	now := d.domain(s.deps.home)
	if samePlace(now, o) {
		return now, false, nil
	}
	return now, true, redo(now)
}

// detachWrite is the context of a write of tenant data: not the request's,
// since a write the database may have applied must still be settled when
// its client hangs up (else what a racing rename or delete left of it would
// stay where no organization looks), but bounded all the same. The bound is
// a timer, not a deadline: the driver applies ORGD_DB_TIMEOUT to each
// operation only on a context without one.
func (s *Store) detachWrite(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := time.AfterFunc(writeLimit, cancel)
	return ctx, func() { t.Stop(); cancel() }
}

// writeLimit bounds a write of tenant data, from its first operation to
// its last: settleWait, and a minute for the database's own operations.
const writeLimit = settleWait + time.Minute

// settleWait bounds how long a write waits for its organization's operation
// to end before answering 409. It stays well inside the HTTP server's
// ReadTimeout (30 s from the request's start), which cancels the request.
const settleWait = 20 * time.Second

// recentRetention is the least time a tombstone of an ended operation is
// trusted for, and so kept.
const recentRetention = 30 * time.Second

// recentWindow is how long tombstones are trusted for with a cache synced
// every sync: quiet stands for "o is still right" only if o is younger than
// the window, and a cache that syncs keeps copies up to three intervals old
// (past that it bypasses itself). Instances sharing a master database should
// share their sync interval, since each prunes by its own window.
func recentWindow(sync time.Duration) time.Duration { return recentRetention + 3*max(sync, 0) }

// quiet reports whether no operation runs on the organization now and none
// ended within the store's tombstone window. The caller's copy of the
// organization must be younger than that window (see latest).
func (s *Store) quiet(ctx context.Context, orgID string) (bool, error) {
	if busy, err := findByID(ctx, s.ops(), orgID, &opDoc{}); err != nil || busy {
		return false, err
	}
	filter := bson.D{{Key: "org", Value: orgID}, {Key: "ended_at", Value: bson.D{{Key: "$gte", Value: s.now().Add(-s.tombs)}}}}
	err := s.recent().FindOne(ctx, filter).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return true, nil
	}
	return false, translate(err)
}

// pruneRecent deletes tombstones older than their retention.
func (s *Store) pruneRecent(ctx context.Context) error {
	_, err := s.recent().DeleteMany(ctx, bson.D{{Key: "ended_at", Value: bson.D{{Key: "$lt", Value: s.now().Add(-2 * s.tombs)}}}})
	return translate(err)
}
