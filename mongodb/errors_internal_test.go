package mongodb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
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

// TestTranslateTimeouts checks that a database that did not answer in time
// is not called unavailable: a query too costly for ORGD_DB_TIMEOUT fails
// that way every time, with the database up.
func TestTranslateTimeouts(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"deadline", fmt.Errorf("find: %w", context.DeadlineExceeded), "did not answer in time"},
		{"time limit on the server", mongo.CommandError{Code: 50, Name: "MaxTimeMSExpired"}, "did not answer in time"},
		{"connection lost", mongo.CommandError{Code: 6, Labels: []string{"NetworkError"}}, "is unavailable"},
		{"stepped down", mongo.CommandError{Code: 189, Name: "PrimarySteppedDown"}, "is unavailable"},
		// No server answered within ORGD_DB_TIMEOUT: the database cannot be
		// reached, which the README calls unavailable.
		{"no server", fmt.Errorf("find: %w", topology.ServerSelectionError{Wrapped: context.DeadlineExceeded}), "is unavailable"},
	} {
		err := translate(tt.err)
		if orgd.ErrorCode(err) != orgd.EUNAVAILABLE || !strings.Contains(orgd.ErrorMessage(err), tt.want) {
			t.Errorf("%s: %v, want unavailable saying %q", tt.name, err, tt.want)
		}
	}
}

// TestConnectHidesTheURI checks that a URI the driver cannot parse is refused
// without quoting any of it: the part it cannot parse may be a password or
// an option's secret.
func TestConnectHidesTheURI(t *testing.T) {
	for _, uri := range []string{
		"mongodb://h/?tlsCertificateKeyFilePassword=TopSecret%zz",
		"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:TopSecret%2",
		"mongodb://user:TopSecret%zz@h/",
	} {
		_, err := Connect(context.Background(), uri, time.Second)
		if err == nil || strings.Contains(err.Error(), "TopSecret") || strings.Contains(err.Error(), "%z") {
			t.Errorf("connect: %v", err)
		}
	}
}
