package mongodb

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestTranslateTransientServerErrors checks that what a database answers
// while failing over or stopping is "unavailable" (503), and that real
// failures stay internal.
func TestTranslateTransientServerErrors(t *testing.T) {
	ferretShutdown := mongo.CommandError{Code: 1, Name: "InternalError",
		Message: "[msg_create.go:137 handler.(*Handler).MsgCreate] [database.go:98 sqlite.(*database).CreateCollection] context canceled"}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"FerretDB shutting down", ferretShutdown, orgd.EUNAVAILABLE},
		{"wrapped", fmt.Errorf("create: %w", ferretShutdown), orgd.EUNAVAILABLE},
		{"FerretDB shutting down mid-query", mongo.CommandError{Code: 1, Name: "InternalError",
			Message: "[msg_find.go:344 handler.handleMaxTimeMSError] [query_iterator.go:79 sqlite.(*queryIterator).Next] context canceled after delay"}, orgd.EUNAVAILABLE},
		{"not primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, orgd.EUNAVAILABLE},
		{"stepped down", mongo.CommandError{Code: 189, Name: "PrimarySteppedDown"}, orgd.EUNAVAILABLE},
		{"shutdown", mongo.CommandError{Code: 91, Name: "ShutdownInProgress"}, orgd.EUNAVAILABLE},
		{"retryable label", mongo.CommandError{Code: 999, Labels: []string{"RetryableWriteError"}}, orgd.EUNAVAILABLE},
		{"write concern on a stepped-down primary", mongo.WriteException{WriteConcernError: &mongo.WriteConcernError{Code: 11602, Name: "InterruptedDueToReplStateChange"}}, orgd.EUNAVAILABLE},
		{"other internal error", mongo.CommandError{Code: 1, Name: "InternalError", Message: "something broke"}, orgd.EINTERNAL},
		{"bad value", mongo.CommandError{Code: 2, Name: "BadValue"}, orgd.EINTERNAL},
		{"duplicate key", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, orgd.EINTERNAL},
		{"plain error", errors.New("context canceled"), orgd.EINTERNAL},
	} {
		if got := orgd.ErrorCode(translate(tt.err)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestPersist checks that an insert is tried again while the database is
// locked or unavailable, however long that lasts within the context, and
// not again for an answer that retrying cannot change.
func TestPersist(t *testing.T) {
	locked := mongo.CommandError{Code: 1, Name: "InternalError", Message: "database is locked (5) (SQLITE_BUSY)"}
	dup := mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}
	bad := mongo.CommandError{Code: 2, Name: "BadValue"}
	for _, tt := range []struct {
		name    string
		answers []error // one per attempt; the last repeats
		cancel  bool
		want    error
		tries   int
	}{
		{"first time", []error{nil}, false, nil, 1},
		{"locked for more attempts than other writes make", []error{locked, locked, locked, locked, locked, locked, locked, nil}, false, nil, 8},
		{"answer lost, then already there", []error{mongo.ErrClientDisconnected, dup}, false, nil, 2},
		{"duplicate at once is an error", []error{dup}, false, dup, 1},
		{"not retryable", []error{locked, bad}, false, bad, 2},
		{"context ended", []error{locked}, true, locked, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tries := 0
			err := persist(ctx, func() error {
				err := tt.answers[min(tries, len(tt.answers)-1)]
				if tries++; tt.cancel {
					cancel()
				}
				return err
			})
			if fmt.Sprint(err) != fmt.Sprint(tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if tries != tt.tries {
				t.Errorf("%d attempts, want %d", tries, tt.tries)
			}
		})
	}
}
