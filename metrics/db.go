package metrics

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/event"
)

// CommandMonitor returns a driver command monitor that records the latency
// and failures of every database command by its name (find, insert, ...),
// for mongodb.ConnectWith. A write that the server refuses for a duplicate
// key is a successful command, so orgd's uniqueness checks are not errors.
func (m *Metrics) CommandMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			m.dbLatency.WithLabelValues(e.CommandName).Observe(e.Duration.Seconds())
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			m.dbLatency.WithLabelValues(e.CommandName).Observe(e.Duration.Seconds())
			m.dbErrors.WithLabelValues(e.CommandName).Inc()
		},
	}
}
