package mongodb

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// cache keeps recently read master documents (organizations, admins, name
// and email keys), and their absence, in memory, so that authenticating a
// request or looking an organization up does not scan a collection each time.
//
// Every master write this process makes forgets the documents it touches and
// appends their keys to the "changes" collection; every instance reads the
// new changes each sync interval and forgets those keys too. So an entry
// stays valid until it changes (hit rates stay high however many
// organizations there are), this instance's writes are seen at once, and
// other instances' within one sync interval. If syncing stops working, the
// cache is bypassed. Its size is bounded, but for the documents of the
// collections it reads whole (revocations), which it never evicts (see kept).
type cache struct {
	sync         time.Duration
	max          int
	now          func() time.Time
	gen          atomic.Uint64 // incremented by every forget: a read that raced one is not kept
	mu           sync.Mutex
	m            map[cacheKey]cacheEntry
	lastSync     time.Time            // guarded by mu
	seen         map[string]time.Time // guarded by mu: the changes syncs read, by id, until they fall out of changeOverlap
	hits, misses atomic.Uint64

	// Guarded by mu: when each collection read whole was last found to fit
	// (see load), the collections ever read whole, whose entries are never
	// evicted, when the last full read began, how many times the cache was
	// emptied, and, while reads run (loading > 0), the keys forgotten since
	// they began.
	complete map[string]time.Time
	whole    map[string]bool
	crowded  bool // evict found too few entries it may drop (see evict)
	lastLoad time.Time
	resets   int
	loading  int
	dirty    map[cacheKey]struct{}
}

// cacheMaxAge bounds how long an entry is trusted even with no change seen.
const cacheMaxAge = 10 * time.Minute

type cacheKey struct{ coll, id string }

type cacheEntry struct {
	raw bson.Raw // nil: there is no such document
	val any      // raw decoded, once a read decoded it: a pointer to a copy
	at  time.Time
}

func newCache(sync time.Duration, max int, now func() time.Time) *cache {
	if sync <= 0 {
		return nil
	}
	if max <= 0 {
		max = 100_000
	}
	return &cache{sync: sync, max: max, now: now, m: map[cacheKey]cacheEntry{}, lastSync: now(), seen: map[string]time.Time{},
		complete: map[string]time.Time{}, whole: map[string]bool{}}
}

func (c *cache) get(k cacheKey) (cacheEntry, bool) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[k]
	healthy := now.Sub(c.lastSync) < 3*c.sync
	if !ok && now.Sub(c.complete[k.coll]) < cacheMaxAge {
		e, ok = cacheEntry{at: c.complete[k.coll]}, true // read whole: not there
	}
	c.mu.Unlock()
	if ok && healthy && now.Sub(e.at) < cacheMaxAge {
		c.hits.Add(1)
		return e, true
	}
	c.misses.Add(1)
	return cacheEntry{}, false
}

// put keeps e unless a forget happened since gen was read, or the cache is
// full of entries it never evicts.
func (c *cache) put(k cacheKey, e cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.m) >= c.max {
		if c.evict(); len(c.m) >= c.max && !c.kept(k, e) {
			return
		}
	}
	c.m[k] = e
}

// evict makes room by dropping a tenth of the entries, in map order
// (random), except those it must keep; c.mu must be held. Entries that say
// "no such document" go first: anyone can make them, by asking for names or
// emails that do not exist, and they must not push out what requests need.
// When it finds fewer than a tenth to drop, it does not look again until an
// entry is forgotten: with the cache filled by entries it must keep
// (revocations beyond its bound), each lookup would otherwise scan the
// whole map.
func (c *cache) evict() {
	if c.crowded {
		return
	}
	n := max(c.max/10, 1)
	for _, absentOnly := range []bool{true, false} {
		for k, e := range c.m {
			if n <= 0 {
				return
			}
			if absentOnly && e.raw != nil || c.kept(k, e) {
				continue
			}
			delete(c.m, k)
			n--
		}
	}
	c.crowded = true
}

// kept reports whether entry e of k is never evicted: a document of a
// collection read whole. For such a collection the cache takes a missing
// entry to mean "no such document", so a revocation dropped to make room
// would let a revoked session's tokens pass. They are bounded by their
// collection, which holds revocations only while an access token may live.
func (c *cache) kept(k cacheKey, e cacheEntry) bool { return e.raw != nil && c.whole[k.coll] }

// keepDecoded adds val, raw decoded, to k's entry if it still holds raw.
func (c *cache) keepDecoded(k cacheKey, raw bson.Raw, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && len(e.raw) > 0 && &e.raw[0] == &raw[0] {
		e.val = val
		c.m[k] = e
	}
}

func (c *cache) forget(k cacheKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.crowded = false
	c.gen.Add(1)
	if c.dirty != nil {
		c.dirty[k] = struct{}{}
	}
	c.mu.Unlock()
}

// CacheStats reports the cache's hits and misses since the start.
func (s *Store) CacheStats() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// cachedFind is findByID through the cache. An entry also keeps its
// document decoded, from the first read of it: every authenticated request
// reads some, and copying one costs a fraction of decoding it. (The
// documents hold no slices, maps or pointers, so a copy shares nothing.)
func cachedFind[T any](ctx context.Context, s *Store, c *mongo.Collection, id string, v *T) (bool, error) {
	if s.cache == nil {
		return findByID(ctx, c, id, v)
	}
	k := cacheKey{c.Name(), id}
	if e, ok := s.cache.get(k); ok {
		if e.raw == nil {
			return false, nil
		}
		p, ok := e.val.(*T)
		if !ok {
			p = new(T)
			if err := bson.Unmarshal(e.raw, p); err != nil {
				return true, err
			}
			s.cache.keepDecoded(k, e.raw, p)
		}
		*v = *p
		return true, nil
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
	p := new(T)
	if err := bson.Unmarshal(raw, p); err != nil {
		return true, err
	}
	s.cache.put(k, cacheEntry{raw: raw, val: p, at: s.now()}, gen)
	*v = *p
	return true, nil
}

// forget drops a master document from this process's cache after it wrote
// it; publish tells the other instances.
func (s *Store) forget(c *mongo.Collection, id string) {
	if s.cache != nil {
		s.cache.forget(cacheKey{c.Name(), id})
	}
}

// publish records, for the other instances' caches, that master documents
// changed: one document per operation, written when it ends.
func (s *Store) publish(ctx context.Context, keys []changeKey) error {
	for range 3 {
		// Retried like every other master write: an operation whose change
		// cannot be published does not end, and its caller sees a failure.
		at := s.now()
		if err := s.insert(ctx, s.changes(), changeDoc{ID: s.newID(), At: at, Keys: keys}); err != nil {
			return translate(err)
		}
		// A sync that ran while the insert was under way did not see it,
		// and the next looks back changeOverlap from then: an insert that
		// took a good part of that is recorded again, with a later time.
		if s.now().Sub(at) < changeOverlap/2 {
			return nil
		}
	}
	return &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "The database did not answer in time; retry shortly."}
}

// changeDoc records that master documents changed.
type changeDoc struct {
	ID   string      `bson:"_id"`
	At   time.Time   `bson:"at"`
	Keys []changeKey `bson:"keys"`
}

// changeKey names one changed master document.
type changeKey struct {
	Coll string `bson:"c"`
	Key  string `bson:"k"`
}

// changeRetention is how long changes are kept for instances to read; an
// instance that could not sync for longer empties its cache.
const changeRetention = 2 * time.Minute

func (s *Store) changes() *mongo.Collection { return s.masterColl(collChanges) }

// changeOverlap is how far back each sync looks again, so that a change
// recorded late (a slow insert, another instance's clock behind this one's)
// is not missed. Changes read before are not acted on again (see seen).
const changeOverlap = 30 * time.Second

// SyncCache forgets the entries that other instances changed since the last
// sync, and prunes old changes now and then.
func (s *Store) SyncCache(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	started := s.now()
	s.cache.mu.Lock()
	since := s.cache.lastSync.Add(-changeOverlap)
	if started.Sub(s.cache.lastSync) > changeRetention-changeOverlap { // changes may be gone: start afresh
		clear(s.cache.m)
		s.cache.crowded = false
		clear(s.cache.complete)
		s.cache.lastLoad = time.Time{}
		s.cache.resets++ // a load running now lost what it had read: it is not complete
		s.cache.gen.Add(1)
	}
	s.cache.mu.Unlock()
	cur, err := s.changes().Find(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$gte", Value: since}}}})
	if err != nil {
		return translate(err)
	}
	var chs []changeDoc
	if err := cur.All(ctx, &chs); err != nil {
		return translate(err)
	}
	s.cache.mu.Lock()
	for id, at := range s.cache.seen {
		if at.Before(since) {
			delete(s.cache.seen, id) // no sync reads it again
		}
	}
	// A change an earlier sync handled is left: forgetting its keys again
	// would only cost their next reads.
	fresh := chs[:0]
	for _, ch := range chs {
		if _, done := s.cache.seen[ch.ID]; !done {
			fresh = append(fresh, ch)
		}
		s.cache.seen[ch.ID] = ch.At
	}
	s.cache.mu.Unlock()
	for _, ch := range fresh {
		for _, k := range ch.Keys {
			if k.Coll == collRevoked {
				s.markRevoked(k.Key, started)
				continue
			}
			s.cache.forget(cacheKey{k.Coll, k.Key})
		}
	}
	s.cache.mu.Lock()
	s.cache.lastSync = started
	s.cache.mu.Unlock()
	return nil
}

// RunCacheSync calls SyncCache every sync interval until ctx ends, and
// deletes changes older than their retention now and then.
func (s *Store) RunCacheSync(ctx context.Context, log *slog.Logger) {
	if s.cache == nil {
		return
	}
	// Reloads run beside the syncs: one that takes longer than a few sync
	// intervals must not make the cache bypass itself meanwhile.
	var reloads sync.WaitGroup
	defer reloads.Wait()
	reloads.Go(func() { s.runCacheReload(ctx, log) })
	t := time.NewTicker(s.cache.sync)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		if err := s.SyncCache(ctx); err != nil && ctx.Err() == nil {
			log.Warn("cache sync failed: the cache is bypassed until it works again", "err", err)
		}

		if now := s.now(); now.Sub(lastPrune) > changeRetention/4 {
			lastPrune = now
			if _, err := s.changes().DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: now.Add(-changeRetention)}}}}); err != nil && ctx.Err() == nil {
				log.Warn("cache: could not prune old changes", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runCacheReload reads the cached collections whole every cacheReload.
func (s *Store) runCacheReload(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(min(s.cache.sync*10, cacheReload))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.cache.reloadDue(s.now()) {
			if _, err := s.ReloadCache(ctx); err != nil && ctx.Err() == nil {
				log.Warn("cache: could not read the master collections whole; entries age out instead", "err", err)
			}
		}
	}
}

// updateID updates the document id of c.
func (s *Store) updateID(ctx context.Context, c *mongo.Collection, id string, update bson.D) error {
	defer s.forget(c, id)
	_, err := updateOne(ctx, c, bson.D{{Key: "_id", Value: id}}, update)
	return err
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
	if d, ok := doc.(cachedDoc); ok { // a document or a pointer to one
		defer s.forget(c, d.cacheID())
	}
	return retry(ctx, func() error { _, err := c.InsertOne(ctx, doc); return err })
}

// cachedDoc is a master document the cache may hold, even as "no such
// document": inserting one must forget it.
type cachedDoc interface{ cacheID() string }

func (d orgDoc) cacheID() string   { return d.ID }
func (d adminDoc) cacheID() string { return d.ID }
func (d keyDoc) cacheID() string   { return d.ID }

// CacheLen is the number of entries in the cache.
func (s *Store) CacheLen() int {
	if s.cache == nil {
		return 0
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return len(s.cache.m)
}
