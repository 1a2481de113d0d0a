package mongodb

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// cache keeps recently read master documents (organizations, admins, name
// and email keys), and their absence, in memory, so that authenticating a
// request or looking an organization up does not scan a collection each time.
// Every write this process makes forgets the documents it touches; writes by
// other instances are seen within ttl. Its size is bounded.
type cache struct {
	ttl          time.Duration
	max          int
	now          func() time.Time
	gen          atomic.Uint64 // incremented by every forget: a read that raced one is not kept
	mu           sync.Mutex
	m            map[cacheKey]cacheEntry
	hits, misses atomic.Uint64
}

type cacheKey struct{ coll, id string }

type cacheEntry struct {
	raw bson.Raw // nil: there is no such document
	at  time.Time
}

func newCache(ttl time.Duration, max int, now func() time.Time) *cache {
	if ttl <= 0 {
		return nil
	}
	if max <= 0 {
		max = 100_000
	}
	return &cache{ttl: ttl, max: max, now: now, m: map[cacheKey]cacheEntry{}}
}

func (c *cache) get(k cacheKey) (cacheEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		c.hits.Add(1)
		return e, true
	}
	c.misses.Add(1)
	return cacheEntry{}, false
}

// put keeps e unless a forget happened since gen was read.
func (c *cache) put(k cacheKey, e cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.m) >= c.max { // make room: drop a tenth, in map order (random)
		n := c.max / 10
		for key := range c.m {
			if n--; n < 0 {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = e
}

func (c *cache) forget(k cacheKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.gen.Add(1)
	c.mu.Unlock()
}

// CacheStats reports the cache's hits and misses since the start.
func (s *Store) CacheStats() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// cachedFind is findByID through the cache.
func (s *Store) cachedFind(ctx context.Context, c *mongo.Collection, id string, v any) (bool, error) {
	if s.cache == nil {
		return findByID(ctx, c, id, v)
	}
	k := cacheKey{c.Name(), id}
	if e, ok := s.cache.get(k); ok {
		if e.raw == nil {
			return false, nil
		}
		return true, bson.Unmarshal(e.raw, v)
	}
	gen := s.cache.gen.Load()
	raw, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		s.cache.put(k, cacheEntry{at: s.now()}, gen)
		return false, nil
	} else if err != nil {
		return false, translate(err)
	}
	raw = append(bson.Raw(nil), raw...)
	s.cache.put(k, cacheEntry{raw: raw, at: s.now()}, gen)
	return true, bson.Unmarshal(raw, v)
}

// forget drops a master document from the cache after this process wrote it.
func (s *Store) forget(c *mongo.Collection, id string) {
	if s.cache != nil {
		s.cache.forget(cacheKey{c.Name(), id})
	}
}

// updateID updates the document id of c.
func (s *Store) updateID(ctx context.Context, c *mongo.Collection, id string, update bson.D) error {
	defer s.forget(c, id)
	return translate(retry(ctx, func() error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, update)
		return err
	}))
}

// deleteID deletes the document id of c.
func (s *Store) deleteID(ctx context.Context, c *mongo.Collection, id string) error {
	defer s.forget(c, id)
	return translate(retry(ctx, func() error {
		_, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		return err
	}))
}

// insert inserts doc into c; a duplicate _id is returned as the driver's error.
func (s *Store) insert(ctx context.Context, c *mongo.Collection, doc any) error {
	switch d := doc.(type) {
	case orgDoc:
		defer s.forget(c, d.ID)
	case adminDoc:
		defer s.forget(c, d.ID)
	case keyDoc:
		defer s.forget(c, d.ID)
	}
	return retry(ctx, func() error { _, err := c.InsertOne(ctx, doc); return err })
}

// CacheLen is the number of entries in the cache.
func (s *Store) CacheLen() int {
	if s.cache == nil {
		return 0
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return len(s.cache.m)
}
