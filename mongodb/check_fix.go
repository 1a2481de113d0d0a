package mongodb

import (
	"context"
	"fmt"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The repairs that Check offers with its problems.

// orphanCollection describes a tenant collection no organization claims: an
// empty one is dropped, one holding data is kept for a person to decide.
func (s *Store) orphanCollection(ctx context.Context, dep, db, name string) Problem {
	c := s.deps.clients[dep].Database(db).Collection(name)
	where := s.where(dep, db, name)
	if held, err := holdsAny(ctx, c, bson.D{}); err != nil || held {
		return Problem{Text: fmt.Sprintf("collection %s belongs to no organization and holds data%s: kept; move or drop it by hand", where, about(ctx, c))}
	}
	return Problem{Auto: true, Text: fmt.Sprintf("collection %s belongs to no organization and is empty", where),
		Repair: func(ctx context.Context) (string, error) {
			if held, err := holdsAny(ctx, c, bson.D{}); err != nil || held {
				return "", err
			}
			if owned, err := s.claimed(ctx, nsKey{dep, db, name}); err != nil || owned {
				return "", err
			}
			return fmt.Sprintf("dropped empty orphan collection %s", where), translate(c.Drop(ctx))
		}}
}

// about is how many documents c's statistics say it holds, for a person to
// read, or "" when they do not say.
func about(ctx context.Context, c *mongo.Collection) string {
	n, err := c.EstimatedDocumentCount(ctx)
	switch {
	case err != nil || n <= 0:
		return ""
	case n == 1:
		return " (1 document by its statistics)"
	}
	return fmt.Sprintf(" (%d documents by its statistics)", n)
}

// orphanDatabase describes a per-organization database no organization
// claims: an empty one is dropped, one holding data is kept.
func (s *Store) orphanDatabase(ctx context.Context, dep, name string) Problem {
	db := s.deps.clients[dep].Database(name)
	p := place{Deployment: dep, Tenancy: tenancyDatabase, Database: name}
	where := s.where(dep, name, "")
	if c, err := s.dataIn(ctx, p); err != nil || c != "" {
		what := "data"
		if c != "" {
			what += " in " + c + about(ctx, db.Collection(c))
		}
		return Problem{Text: fmt.Sprintf("database %s belongs to no organization and holds %s: kept; move or drop it by hand", where, what)}
	}
	return Problem{Auto: true, Leftover: true, ns: nsKey{dep: dep, db: name}, Text: fmt.Sprintf("database %s belongs to no organization and is empty", where),
		Repair: func(ctx context.Context) (string, error) {
			if c, err := s.dataIn(ctx, p); err != nil || c != "" {
				return "", err
			}
			if owned, err := s.claimed(ctx, nsKey{dep: dep, db: name}); err != nil || owned {
				return "", err
			}
			return fmt.Sprintf("dropped empty orphan database %s", where), translate(db.Drop(ctx))
		}}
}

// claimed reports whether an organization, or an operation in flight,
// claims the collection k (with k.coll empty, the database). A repair asks
// again just before it drops: since the check read the records, a create may
// have placed an organization there, adopting the empty collection it found.
// The journal is read first: a create journals its target before it writes
// the record, and ends its entry after.
func (s *Store) claimed(ctx context.Context, k nsKey) (bool, error) {
	ops, err := all[opDoc](ctx, s.ops())
	if err != nil {
		return false, err
	}
	for i := range ops {
		if claims(s.source(&ops[i]), k) || claims(s.target(&ops[i]), k) {
			return true, nil
		}
	}
	cur, err := s.orgs().Find(ctx, bson.D{{Key: "database", Value: k.db}})
	if err != nil {
		return false, translate(err)
	}
	var docs []orgDoc
	if err := cur.All(ctx, &docs); err != nil {
		return false, translate(err)
	}
	for i := range docs {
		if claims(s.placeOf(&docs[i]), k) {
			return true, nil
		}
	}
	return false, nil
}

// claims reports whether data placed at p lives in k: its collection, or
// its database.
func claims(p place, k nsKey) bool {
	return p.Deployment == k.dep && p.Database == k.db &&
		(k.coll == "" || p.Tenancy == tenancyDatabase || p.Collection == k.coll)
}

func (s *Store) resumeFix(o opDoc) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		r, err := s.adopt(ctx, o)
		if err != nil || r == nil {
			return "", err
		}
		return r.resume(ctx)
	}
}

func (s *Store) insertKeyFix(c *mongo.Collection, k keyDoc) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		k.CreatedAt = s.now()
		if err := s.insert(ctx, c, k); err != nil {
			return "", translate(err)
		}
		if err := s.publish(ctx, []changeKey{{c.Name(), k.ID}}); err != nil {
			return "", err
		}
		return fmt.Sprintf("restored key %q in %s", k.ID, c.Name()), nil
	}
}

// deleteKeyFix deletes an orphan key, checking first that its owner still does not claim it.
func (s *Store) deleteKeyFix(c *mongo.Collection, k keyDoc, what string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if busy, err := findByID(ctx, s.ops(), k.OrgID, &opDoc{}); err != nil || busy {
			return "", err // its owner is in an operation: checked again once it ends
		}
		var d orgDoc
		ok, err := findByID(ctx, s.orgs(), k.OrgID, &d)
		if err != nil {
			return "", err
		}
		if ok && d.NameKey == k.ID {
			return "", nil // its owner claims it now
		}
		if ok && what == "email" {
			var a adminDoc
			if found, err := findByID(ctx, s.admins(), k.AdminID, &a); err != nil || found && orgd.NormalizeEmail(a.Email) == k.ID {
				return "", err
			}
		}
		defer s.forget(c, k.ID)
		_, err = c.DeleteOne(ctx, bson.D{{Key: "_id", Value: k.ID}, {Key: "org_id", Value: k.OrgID}})
		if err != nil {
			return "", translate(err)
		}
		if err := s.publish(ctx, []changeKey{{c.Name(), k.ID}}); err != nil {
			return "", err
		}
		return fmt.Sprintf("released orphan %s key %q", what, k.ID), nil
	}
}
