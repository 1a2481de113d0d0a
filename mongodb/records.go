package mongodb

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

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
	last, size := "", 0
	for cur.Next(ctx) {
		if len(page.Records) == q.Limit { // there is more: the cursor is the last id shown
			page.Next = last
			break
		}
		b, err := appendRecord(nil, cur.Current)
		if err != nil {
			return nil, err
		}
		if size += len(b); size > listMaxBytes && len(page.Records) > 0 { // the rest on the next page
			page.Next = last
			break
		}
		page.Records = append(page.Records, b)
		last, _ = cur.Current.Lookup(fieldID).StringValueOK()
	}
	return page, translate(cur.Err())
}

// listMaxBytes bounds the records of one page (a page always holds one):
// 1,000 records of up to 1 MiB each would hold a gigabyte, twice over while
// the answer is put together.
const listMaxBytes = 4 << 20

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
