package mongodb

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestCachedDocumentsAreFlat checks that the documents the cache keeps
// decoded hold no slices, maps or pointers: cachedFind hands out copies of
// them, which would otherwise share those with the cache.
func TestCachedDocumentsAreFlat(t *testing.T) {
	for _, v := range []any{orgDoc{}, adminDoc{}, keyDoc{}, revokedDoc{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch k := f.Type.Kind(); {
			case f.Type == reflect.TypeFor[time.Time]():
			case k == reflect.String, k == reflect.Bool, k >= reflect.Int && k <= reflect.Float64:
			default:
				t.Errorf("%s.%s is a %s: a copy of a cached %s would share it", typ.Name(), f.Name, f.Type, typ.Name())
			}
		}
	}
}

// TestRevocationNotOverwrittenByARead marks a session revoked while a read
// of it, begun before, is finding nothing: the read's answer must not
// replace the revocation in the cache.
func TestRevocationNotOverwrittenByARead(t *testing.T) {
	c := newCache(time.Minute, 100, time.Now)
	k := cacheKey{collRevoked, "s1"}
	gen := c.gen.Load() // a read begins
	raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: "s1"}})
	c.set(k, raw, time.Now())                 // the session is revoked here meanwhile
	c.put(k, cacheEntry{at: time.Now()}, gen) // the read found no revocation
	if e, ok := c.get(k); !ok || e.raw == nil {
		t.Errorf("cached %v, %v: want the revocation", e.raw, ok)
	}
}

// TestInsertForgetsItsDocument caches "no such document", then inserts the
// document, as a value or through a pointer as a create does: the next read
// finds it.
func TestInsertForgetsItsDocument(t *testing.T) {
	db := mongotest.New(t)
	s := NewStore(db.Client, Config{MasterDB: db.MasterDB, TenantDB: db.TenantDB, TenantDBPrefix: db.Prefix, CacheSync: time.Minute})
	t.Cleanup(s.Close)
	ctx := context.Background()
	tests := []struct {
		name string
		coll *mongo.Collection
		doc  cachedDoc
	}{
		{"organization, pointer", s.orgs(), &orgDoc{ID: "o1"}},
		{"organization", s.orgs(), orgDoc{ID: "o2"}},
		{"admin, pointer", s.admins(), &adminDoc{ID: "a1"}},
		{"admin", s.admins(), adminDoc{ID: "a2"}},
		{"name key, pointer", s.names(), &keyDoc{ID: "k1"}},
		{"email key", s.emails(), keyDoc{ID: "k2"}},
	}
	for _, tt := range tests {
		var got bson.Raw
		if ok, err := cachedFind(ctx, s, tt.coll, tt.doc.cacheID(), &got); err != nil || ok {
			t.Fatalf("%s: before the insert: found %v, %v", tt.name, ok, err)
		}
		if err := s.insert(ctx, tt.coll, tt.doc); err != nil {
			t.Fatal(err)
		}
		if ok, err := cachedFind(ctx, s, tt.coll, tt.doc.cacheID(), &got); err != nil || !ok {
			t.Errorf("%s: after the insert: found %v, %v", tt.name, ok, err)
		}
	}
}
