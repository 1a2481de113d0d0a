package mongodb

import (
	"context"
	"testing"
	"time"
)

// TestDetachedContexts checks the contexts that operations and writes of
// tenant data run under: their caller hanging up does not end them, their
// limit does, and they carry no deadline, so that the driver bounds each
// command by ORGD_DB_TIMEOUT (a command let run until a far deadline could
// land after another instance took the operation over).
func TestDetachedContexts(t *testing.T) {
	s := &Store{lease: 30 * time.Second}
	for _, tt := range []struct {
		name   string
		detach func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"operation", s.detach},
		{"write", s.detachWrite},
		{"50 ms", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return detachFor(ctx, 50*time.Millisecond)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent, hangUp := context.WithCancel(context.Background())
			ctx, cancel := tt.detach(parent)
			defer cancel()
			hangUp()
			if d, ok := ctx.Deadline(); ok {
				t.Errorf("deadline %v: the driver's own timeout would not apply", d)
			}
			if ctx.Err() != nil {
				t.Error("ended when its caller hung up")
			}
		})
	}
	ctx, cancel := detachFor(context.Background(), 50*time.Millisecond)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Error("not ended at its limit")
	}
}
