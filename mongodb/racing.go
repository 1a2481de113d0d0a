package mongodb

import (
	"context"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Writes of tenant data that race an operation moving it: a rename that
// copies, or a move. The records API checks after each write whether the
// organization's version changed (settle, in settle.go); these are the
// parts that concern where the data went.

// latest returns the organization as this process knows it now, for a write
// whose copy o may be older than the tombstone window that settle relies on:
// a request reads o before its body, which may take the server's whole read
// timeout, and an import holds it for as long as its upload. The cache's copy
// is at most three sync intervals old, which the window covers.
func (s *Store) latest(ctx context.Context, o *orgd.Organization) (*orgd.Organization, error) {
	now, err := s.OrganizationByID(ctx, o.ID)
	if orgd.ErrorCode(err) == orgd.ENOTFOUND {
		return nil, orgd.Errorf(orgd.ENOTFOUND, "Organization %q was deleted.", o.Name)
	}
	return now, err
}

// stillWritable checks, for a long write such as an import, that o is still
// writable where o says: no operation has marked it busy, moved or renamed it
// since o was read. It reads only the cache, the journal and the tombstones
// when the organization is quiet.
func (s *Store) stillWritable(ctx context.Context, o *orgd.Organization) error {
	cached, err := s.latest(ctx, o)
	if err != nil {
		return err
	}
	if !sameState(cached, o) {
		return importConflict(o)
	}
	if quiet, err := s.quiet(ctx, o.ID); err != nil || quiet {
		return err
	}
	var d orgDoc
	if ok, err := findByID(ctx, s.orgs(), o.ID, &d); err != nil {
		return err
	} else if !ok {
		return orgd.Errorf(orgd.ENOTFOUND, "Organization %q was deleted.", o.Name)
	}
	if !sameState(d.domain(s.deps.home), o) {
		return importConflict(o)
	}
	return nil
}

// sameState reports whether now, a later copy of o, says it is active at the
// same version in the same place.
func sameState(now, o *orgd.Organization) bool {
	return now.Status == orgd.StatusActive && now.Version == o.Version && samePlace(now, o)
}

func importConflict(o *orgd.Organization) error {
	return orgd.Errorf(orgd.ECONFLICT, "Organization %q is being changed; what was imported so far stays; retry the rest shortly.", o.Name)
}

// current returns the organization as it is now when a rename or a move
// has changed where its data is since o was read (o came from a cache that
// has not caught up yet), and o otherwise. It reads only the journal and the
// tombstones when the organization is quiet.
func (s *Store) current(ctx context.Context, o *orgd.Organization) (*orgd.Organization, error) {
	if quiet, err := s.quiet(ctx, o.ID); err != nil || quiet {
		return o, err
	}
	var d orgDoc
	if ok, err := findByID(ctx, s.orgs(), o.ID, &d); err != nil || !ok {
		return o, err
	}
	now := d.domain(s.deps.home)
	if !samePlace(now, o) {
		return now, nil
	}
	// Mid-operation (a rename between moving the collection and recording
	// where it went, a delete), the place o names may no longer hold the
	// data: "not found" or an empty page would be wrong; retrying is right.
	if err := readable(now); err != nil {
		return o, err
	}
	return o, nil
}

// atCurrent runs op, a read or write of one record, on o; when it finds no
// such record there, it runs it again where the data is now, should o be out
// of date, following it up to maxHops times. It returns the organization op
// last ran on.
func (s *Store) atCurrent(ctx context.Context, o *orgd.Organization, op func(*orgd.Organization) error) (*orgd.Organization, error) {
	var err error
	o, ferr := s.follow(ctx, o, func(o *orgd.Organization) (bool, error) {
		if err = op(o); orgd.ErrorCode(err) == orgd.ENOTFOUND {
			return false, nil
		}
		return true, err
	})
	if ferr != nil {
		return o, ferr
	}
	return o, err
}

// follow runs look on o, which reports whether it found what it looked for;
// while it finds nothing because o is out of date (a rename or a move took
// the data elsewhere), it looks again where the data is now. The data can
// move again between reading where it is and looking there (two renames in
// a row), so it follows it up to maxHops times, then answers 409. It returns
// the organization look last ran on.
func (s *Store) follow(ctx context.Context, o *orgd.Organization, look func(*orgd.Organization) (bool, error)) (*orgd.Organization, error) {
	for hops := 0; ; hops++ {
		if found, err := look(o); err != nil || found {
			return o, err
		}
		now, err := s.current(ctx, o)
		if err != nil || now == o {
			return o, err
		} else if hops == maxHops {
			return o, orgd.Errorf(orgd.ECONFLICT, "Organization %q is being changed; retry shortly.", now.Name)
		}
		o = now
	}
}

// maxHops bounds how many times follow looks for its organization's data
// in a new place before answering 409: it looks for what it found nowhere,
// so nothing was written (settle, which follows a write that is in, waits
// for operations settleWait in all, and follows renames that keep coming
// for as long as the write's context lets it).
const maxHops = 4

// samePlace reports whether a and b say an organization's data is in the
// same place.
func samePlace(a, b *orgd.Organization) bool {
	return a.Deployment == b.Deployment && a.Database == b.Database && a.Collection == b.Collection
}

// relocate is settle's redo for records inserted where o said its data was,
// when a rename or a move has changed that meanwhile: a copy may have been
// made before they landed and their old place dropped after, so they are
// inserted in the organization's place now (those the copy carried are
// skipped), and removed from the old one should they have landed after its
// drop (recreating it).
func (s *Store) relocate(ctx context.Context, o *orgd.Organization, docs []any) func(*orgd.Organization) error {
	// settle may call it again, should the data move once more while it
	// ran: each call takes the documents out of where the previous one put them.
	from := o
	return func(now *orgd.Organization) error {
		if len(docs) == 0 {
			return nil
		}
		err := retry(ctx, func() error {
			_, err := s.tenantCollection(now).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
			return err
		})
		if err != nil && !onlyDuplicates(err) {
			return translate(err)
		}
		ids := make(bson.A, 0, len(docs))
		for _, d := range docs {
			if doc, ok := d.(bson.D); ok && len(doc) > 0 && doc[0].Key == fieldID {
				ids = append(ids, doc[0].Value)
			}
		}
		_, err = s.tenantCollection(from).DeleteMany(ctx, bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: ids}}}, {Key: fieldOrg, Value: o.ID}})
		if err != nil {
			return translate(err)
		}
		from = now
		return nil
	}
}
