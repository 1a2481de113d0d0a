package mongodb_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/orgd/orgd/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkExport100k exports an organization of 100,000 records and reports
// the peak heap growth while it streams: it stays bounded by a batch, not by
// the size of the collection. (The embedded database runs in this process, so
// its own memory counts too.)
func BenchmarkExport100k(b *testing.B) {
	const n = 100_000
	f := &fixture{db: mongotest.New(b), clock: &clock{now: time.Now()}}
	s := f.store("")
	ctx := context.Background()
	o, err := s.CreateOrganization(ctx, "big", "big@x.test", "h")
	if err != nil {
		b.Fatal(err)
	}
	c := f.db.Client.Database(o.Database).Collection(o.Collection)
	batch := make([]any, 0, 1000)
	for i := range n {
		batch = append(batch, bson.D{{Key: "_id", Value: fmt.Sprintf("%026d", i)}, {Key: "_org", Value: o.ID},
			{Key: "i", Value: i}, {Key: "name", Value: fmt.Sprintf("record number %d", i)}, {Key: "tags", Value: bson.A{"a", "b", "c"}}})
		if len(batch) == cap(batch) {
			if _, err := c.InsertMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ResetTimer()
	var peak, base uint64
	for range b.N {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base = ms.HeapInuse
		stop, done := make(chan struct{}), make(chan uint64)
		go samplePeak(stop, done)
		cw := &countWriter{}
		if err := s.ExportRecords(ctx, o, cw); err != nil {
			b.Fatal(err)
		}
		close(stop)
		peak = max(peak, <-done)
		if cw.lines != n {
			b.Fatalf("exported %d lines, want %d", cw.lines, n)
		}
	}
	b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-growth-MiB")
	b.ReportMetric(float64(n), "records")
}

func samplePeak(stop chan struct{}, done chan uint64) {
	var peak uint64
	var ms runtime.MemStats
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		select {
		case <-stop:
			done <- peak
			return
		case <-t.C:
		}
	}
}

type countWriter struct {
	mu    sync.Mutex
	lines int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range p {
		if c == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}
