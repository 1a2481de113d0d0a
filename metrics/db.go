package metrics

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// CommandMonitor returns a driver command monitor that records the latency
// and failures of every database command by its name (find, insert, ...),
// for mongodb.ConnectWith. A write that the server refuses for a duplicate
// key is a successful command, so orgd's uniqueness checks are not errors;
// nor are the answers an idempotent step expects when it is done again
// (see expected).
func (m *Metrics) CommandMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			m.dbLatency.WithLabelValues(e.CommandName).Observe(e.Duration.Seconds())
		},
		Failed: func(_ context.Context, e *event.CommandFailedEvent) {
			m.dbLatency.WithLabelValues(e.CommandName).Observe(e.Duration.Seconds())
			if !expected(e.Failure) {
				m.dbErrors.WithLabelValues(e.CommandName).Inc()
			}
		},
	}
}

// expected reports whether a command failed only as a step that may run
// twice expects: creating a collection that exists (NamespaceExists, 48),
// dropping or renaming one that is gone (NamespaceNotFound, 26). Every move
// and every resumed operation gets such answers; counted as errors, they
// would set off alerts on a healthy database.
func expected(err error) bool {
	var de driver.Error
	return errors.As(err, &de) && (de.Code == 48 || de.Code == 26)
}
