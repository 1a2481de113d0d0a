package mongodb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// renameCollection renames the main collection of p to to, within its
// database, and is idempotent: a rename already done is success. The
// caller has made sure that the target held nothing before the first
// attempt (checkTarget), so a target that holds data now is the
// organization's own: a rename done before, whose source a writer that read
// the old place has recreated since. Those writes join it.
func (s *Store) renameCollection(ctx context.Context, p place, to, orgID string) error {
	client, err := s.deps.client(p.Deployment)
	if err != nil {
		return err
	}
	db, from := p.Database, p.Collection
	cmd := bson.D{{Key: "renameCollection", Value: db + "." + from}, {Key: "to", Value: db + "." + to}}
	err = client.Database("admin").RunCommand(ctx, cmd).Err()
	switch {
	case err == nil:
		return nil
	case hasCode(err, codeNamespaceNotFound):
		target := p
		target.Collection = to
		if ok, err := s.collectionExists(ctx, target); err != nil {
			return err
		} else if ok {
			return nil // done before
		}
		// Neither is there: someone dropped the collection by hand. What
		// the organization had is gone either way; it goes on, empty,
		// under its new name, as it would have in the old one.
		s.log.Warn("rename: the organization's collection was missing; its new one starts empty",
			"org_id", orgID, "database", db, "collection", from)
		return s.createCollection(ctx, target)
	case hasCode(err, codeNamespaceExists):
		// The target is a stray collection: this organization holds its name,
		// so no one else owns it. An empty one is dropped; data is never.
		target := p
		target.Collection = to
		if c, err := s.dataIn(ctx, target); err != nil {
			return err
		} else if c == "" {
			if err := client.Database(db).Collection(to).Drop(ctx); err != nil {
				return translate(err)
			}
			return translate(client.Database("admin").RunCommand(ctx, cmd).Err())
		}
		src, dst := client.Database(db).Collection(from), client.Database(db).Collection(to)
		if err := s.mergeInto(ctx, src, dst, orgID); err != nil {
			return err
		}
		if c, err := s.dataIn(ctx, p); err != nil {
			return err
		} else if c != "" { // what is left there is no organization's: never dropped
			return orgd.Errorf(orgd.ECONFLICT, "Collection %s.%s holds data of no organization; run orgd doctor.", db, from)
		}
		return translate(src.Drop(ctx))
	}
	return translate(err)
}

func (s *Store) collectionExists(ctx context.Context, p place) (bool, error) {
	db, err := s.database(p)
	if err != nil {
		return false, err
	}
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: p.Collection}})
	if err != nil {
		return false, translate(err)
	}
	return len(names) > 0, nil
}

// createCollection creates the empty main collection of p (and so, in the
// database model, its database); an existing empty one is adopted (an
// earlier attempt of this operation made it).
func (s *Store) createCollection(ctx context.Context, p place) error {
	db, err := s.database(p)
	if err != nil {
		return err
	}
	err = db.CreateCollection(ctx, p.Collection)
	if err == nil || !hasCode(err, codeNamespaceExists) {
		return translate(err)
	}
	if held, err := holdsAny(ctx, db.Collection(p.Collection), bson.D{}); err != nil {
		return err
	} else if held {
		return orgd.Errorf(orgd.ECONFLICT, "Collection %s already holds data of unknown origin; run orgd doctor.", p.Collection)
	}
	return nil
}

// dropTenant drops an organization's data at p: its collection, or in the
// database model its whole database. Dropping what is absent is success.
func (s *Store) dropTenant(ctx context.Context, p place) error {
	db, err := s.database(p)
	if err != nil {
		return err
	}
	if p.Tenancy != tenancyDatabase {
		return translate(db.Collection(p.Collection).Drop(ctx))
	}
	if p.Database == s.master.Name() || p.Database == s.tenant.Name() || !strings.Contains(p.Database, orgd.CollectionPrefix) {
		return fmt.Errorf("refusing to drop database %s: it is not a per-organization database", p.Database)
	}
	// Its collections, not the database: FerretDB drops a database by
	// deleting its file, and a write from an instance that has not heard of
	// the drop yet then fails with a disk I/O error (a 500), or crashes the
	// process that hosts the database (SIGBUS in SQLite's WAL index). An
	// empty database is gone on MongoDB; on the embedded database its file
	// goes with a later sweep of the reconciler (an empty orphan database).
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return translate(err)
	}
	for _, c := range names {
		if err := db.Collection(c).Drop(ctx); err != nil {
			return translate(err)
		}
	}
	return nil
}

// mergeInto moves organization orgID's records from src into dst. The
// source's version of a record wins: it was written later.
func (s *Store) mergeInto(ctx context.Context, src, dst *mongo.Collection, orgID string) error {
	cur, err := src.Find(ctx, bson.D{{Key: fieldOrg, Value: orgID}})
	if err != nil {
		return translate(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		return translate(err)
	}
	for _, doc := range docs {
		id := doc.Lookup(fieldID)
		err := retry(ctx, func() error {
			_, err := dst.ReplaceOne(ctx, bson.D{{Key: fieldID, Value: id}}, doc, options.Replace().SetUpsert(true))
			return err
		})
		if err != nil {
			return translate(err)
		}
		if _, err := src.DeleteOne(ctx, bson.D{{Key: fieldID, Value: id}, {Key: fieldOrg, Value: orgID}}); err != nil {
			return translate(err)
		}
	}
	return nil
}

// dataIn returns a collection of an organization's data at p that holds a
// document, "" when none does: its collection, or in the database model
// every collection of its database. It asks for one document rather than
// trusting an estimated count, since it decides whether data may be dropped.
func (s *Store) dataIn(ctx context.Context, p place) (string, error) {
	return s.firstIn(ctx, p, bson.D{})
}

// firstIn returns a collection of an organization's data at p that holds a
// document matching filter, "" when none does.
func (s *Store) firstIn(ctx context.Context, p place, filter bson.D) (string, error) {
	colls, err := s.tenantColls(ctx, p)
	if err != nil {
		return "", err
	}
	db, err := s.database(p)
	if err != nil {
		return "", err
	}
	for _, c := range colls {
		if held, err := holdsAny(ctx, db.Collection(c), filter); err != nil || held {
			return c, err
		}
	}
	return "", nil
}

// holdsAny reports whether c holds a document matching filter, by reading
// one: the count in a collection's statistics may be wrong on MongoDB after
// an unclean shutdown, and data must never be taken for an empty collection.
func holdsAny(ctx context.Context, c *mongo.Collection, filter bson.D) (bool, error) {
	err := c.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, translate(err)
}
