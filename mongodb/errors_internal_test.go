package mongodb

import (
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
