package mongodb

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// Server error codes orgd reacts to.
const (
	codeNamespaceNotFound = 26
	codeNamespaceExists   = 48
)

// translate turns a driver error into an *orgd.Error where the cause is known:
// an unreachable or overloaded database is EUNAVAILABLE; anything else stays
// an internal error (logged, never shown to clients).
func translate(err error) error {
	if err == nil {
		return nil
	}
	var oe *orgd.Error
	if errors.As(err, &oe) {
		return err
	}
	if unavailable(err) {
		msg := "The database is unavailable; retry shortly."
		// No server to send the operation to is an unreachable database,
		// even though the driver reports it as a timeout once its server
		// selection gives up.
		var sse topology.ServerSelectionError
		if !errors.As(err, &sse) && (mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded)) {
			// An outage, or a query that costs the database more than
			// ORGD_DB_TIMEOUT: "unavailable" would be wrong for the second.
			msg = "The database did not answer in time; retry shortly."
		}
		return &orgd.Error{Code: orgd.EUNAVAILABLE, Message: msg}
	}
	return err
}

func unavailable(err error) bool {
	var sse topology.ServerSelectionError
	return mongo.IsNetworkError(err) || mongo.IsTimeout(err) ||
		errors.As(err, &sse) || errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.Is(err, context.DeadlineExceeded) || locked(err) || transient(err)
}

// transient reports a server error that the database answers while failing
// over or stopping. FerretDB answers a command its shutdown cut short with
// InternalError "... context canceled" (its own context, not the client's).
func transient(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	if se.HasErrorLabel("RetryableWriteError") {
		return true
	}
	// Server errors that mean "not now" rather than "no": a primary stepping
	// down or being elected, a server shutting down, a host the server cannot
	// reach. The driver retries a retryable write once on them; during a
	// longer election the error reaches orgd.
	for _, code := range []int{
		6,     // HostUnreachable
		7,     // HostNotFound
		89,    // NetworkTimeout
		91,    // ShutdownInProgress
		189,   // PrimarySteppedDown
		262,   // ExceededTimeLimit
		9001,  // SocketException
		10107, // NotWritablePrimary
		11600, // InterruptedAtShutdown
		11602, // InterruptedDueToReplStateChange
		13435, // NotPrimaryNoSecondaryOk
		13436, // NotPrimaryOrSecondary
	} {
		if se.HasErrorCode(code) {
			return true
		}
	}
	return se.HasErrorCode(1) && strings.Contains(err.Error(), "context canceled")
}

// locked reports FerretDB's SQLite "database is locked", which concurrent
// writers to one collection can get; the write did not happen.
func locked(err error) bool {
	return err != nil && strings.Contains(err.Error(), "database is locked")
}

func hasCode(err error, code int) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.HasErrorCode(code)
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		return we.HasErrorCode(code)
	}
	return false
}

// retry runs fn until it succeeds, fails with something other than a locked
// database, or has been tried five times.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 5 {
		if err = fn(); !locked(err) {
			return err
		}
		d := time.Duration(attempt+1) * (5*time.Millisecond + rand.N(10*time.Millisecond))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
	return err
}
