package mongodb

import (
	"bytes"
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// cacheReload is how often the cache reads its collections whole again. It
// renews every entry before cacheMaxAge ends its trust, so that hit rates do
// not fall every ten minutes, and it drops documents whose change was never
// published (their writer crashed between the write and the publish).
const cacheReload = cacheMaxAge / 2

// loadFill is the share of the cache's bound that loading may fill, leaving
// room for what requests look up.
const loadFill = 0.9

// WarmCache reads the master collections that requests look up whole into
// the cache: a few scans at startup instead of one per organization on first
// use, which on a backend that scans for every lookup is the difference
// between a flat and a growing latency. It returns the number of entries.
func (s *Store) WarmCache(ctx context.Context) (int, error) {
	return s.readWhole(ctx, false)
}

// ReloadCache reads the same collections whole again, as the cache does
// every cacheReload, but paced (see pacedBatch) to stay out of requests' way.
func (s *Store) ReloadCache(ctx context.Context) (int, error) {
	return s.readWhole(ctx, true)
}

func (s *Store) readWhole(ctx context.Context, paced bool) (int, error) {
	if s.cache == nil {
		return 0, nil
	}
	started := s.now()
	// Revocations are loaded whole, so that "not revoked", the answer to
	// almost every authenticated request, needs no lookup of its own.
	for _, l := range []struct {
		c        *mongo.Collection
		complete bool
	}{{s.revoked(), true}, {s.names(), false}, {s.orgs(), false}, {s.admins(), false}, {s.emails(), false}} {
		if err := s.load(ctx, l.c, l.complete, paced); err != nil {
			return s.CacheLen(), err
		}
	}
	s.cache.loaded(started)
	return s.CacheLen(), nil
}

// load reads collection c whole into the cache. Entries that a write or a
// sync forgets while it runs are not overwritten with what it read; entries
// of documents it did not find are dropped. With complete, and if all of c
// fit, the cache answers "no such document" for c without asking. Paced,
// it reads in small batches and waits after each.
func (s *Store) load(ctx context.Context, c *mongo.Collection, complete, paced bool) error {
	cc := s.cache
	started := s.now()
	cc.mu.Lock()
	if cc.loading++; cc.dirty == nil {
		cc.dirty = map[cacheKey]struct{}{}
	}
	if complete {
		cc.whole[c.Name()] = true // from now on, what this reads is never evicted
	}
	resets := cc.resets
	cc.mu.Unlock()
	defer func() {
		cc.mu.Lock()
		if cc.loading--; cc.loading == 0 {
			cc.dirty = nil
		}
		cc.mu.Unlock()
	}()
	pace := newPacer(paced)
	cur, err := c.Find(ctx, bson.D{}, options.Find().SetBatchSize(pace.batchSize()))
	if err != nil {
		return translate(err)
	}
	defer cur.Close(ctx)
	name, seen, full := c.Name(), map[string]bool{}, false
	limit := int(float64(cc.max) * loadFill)
	for cur.Next(ctx) {
		if err := pace.next(ctx, cur); err != nil {
			return err
		}
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			continue
		}
		seen[id] = true
		k := cacheKey{name, id}
		cc.mu.Lock()
		_, dirty := cc.dirty[k]
		old, have := cc.m[k]
		if complete && !dirty && !have && len(cc.m) >= limit {
			cc.evict() // what requests looked up makes room for what must be whole
		}
		switch {
		case dirty:
		case !have && len(cc.m) >= limit:
			full = true
		case have && bytes.Equal(old.raw, cur.Current):
			// Unchanged: keep its copy and what was decoded from it, so
			// that a reload neither doubles the cache's memory for a
			// while nor makes every entry be decoded again.
			old.at = started
			cc.m[k] = old
		default:
			cc.m[k] = cacheEntry{raw: append(bson.Raw(nil), cur.Current...), at: started}
		}
		cc.mu.Unlock()
	}
	if err := cur.Err(); err != nil {
		return translate(err)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for k, e := range cc.m {
		if k.coll != name || seen[k.id] || !e.at.Before(started) {
			continue
		}
		if _, dirty := cc.dirty[k]; dirty {
			continue
		}
		if e.raw != nil {
			delete(cc.m, k) // gone without a change seen
			cc.crowded = false
		} else {
			cc.m[k] = cacheEntry{at: started} // still absent
		}
	}
	switch {
	case !complete:
	case full || cc.resets != resets:
		// Some documents are not in the cache: an earlier read's verdict
		// must not stand for them either.
		delete(cc.complete, name)
	default:
		cc.complete[name] = started
	}
	return nil
}

// reloadDue reports whether the cache should be read whole again.
func (c *cache) reloadDue(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Sub(c.lastLoad) >= cacheReload
}

func (c *cache) loaded(at time.Time) {
	c.mu.Lock()
	c.lastLoad = at
	c.mu.Unlock()
}

// set stores what this process knows a document now is, without reading
// it: a revocation is never undone, so the change of one says what it is. A
// read that began before must not overwrite it with what it found then.
func (c *cache) set(k cacheKey, raw bson.Raw, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	if _, have := c.m[k]; !have && len(c.m) >= c.max {
		c.evict()
	}
	c.m[k] = cacheEntry{raw: raw, at: at}
	if c.dirty != nil {
		c.dirty[k] = struct{}{} // what a load read may be older
	}
}
