package mongodb

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The cache's reloads are paced: they read pacedBatch documents at a time
// and, after each batch, wait readPace times as long as it took (at most
// pauseMax), so that they read at most a fifth of the time. At full speed,
// the 40,000 documents of 10,000 organizations had the embedded database
// allocate faster than the collector frees: RSS rose by about 40 MiB for
// the 3 s the reload took. Paced, it takes about 16 s and RSS rises by about
// 15 MiB. The first load, at startup, goes at full speed: nothing is served
// yet.
const (
	pacedBatch = 100
	readPace   = 4
	pauseMax   = time.Second
	fullBatch  = 1000
)

// pacer spreads a read over time, if on, by waiting after each batch.
type pacer struct {
	on    bool
	start time.Time // when the current batch began, on the monotonic clock
}

// newPacer starts pacing a read that is about to begin. The batches' times
// are measured on the monotonic clock, not the store's: they pace work, and
// a test's clock may stand still or leap.
func newPacer(on bool) *pacer { return &pacer{on: on, start: time.Now()} }

// batchSize is the cursor batch size for the read.
func (p *pacer) batchSize() int32 {
	if p.on {
		return pacedBatch
	}
	return fullBatch
}

// next is called for each document the read takes from cur: on the last
// of a batch, it waits before the read goes on.
func (p *pacer) next(ctx context.Context, cur *mongo.Cursor) error {
	if !p.on || cur.RemainingBatchLength() > 0 {
		return nil
	}
	if err := sleep(ctx, min(readPace*time.Since(p.start), pauseMax)); err != nil {
		return err
	}
	p.start = time.Now()
	return nil
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
