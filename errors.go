package orgd

import (
	"errors"
	"fmt"
	"time"
)

// Error codes: each says what kind of failure happened, independently of transport.
const (
	EMALFORMED    = "malformed"    // the request body cannot be parsed
	EINVALID      = "invalid"      // the request breaks a validation rule
	ECONFLICT     = "conflict"     // a name or email is taken, or the organization is busy
	ENOTFOUND     = "not_found"    // the organization does not exist
	EUNAUTHORIZED = "unauthorized" // missing or bad credentials
	EFORBIDDEN    = "forbidden"    // valid credentials, wrong organization
	ETOOMANY      = "too_many"     // too many attempts; retry after a while
	EUNAVAILABLE  = "unavailable"  // the database cannot be reached now
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// FieldError names one input field and what is wrong with it.
type FieldError struct {
	Field   string // JSON name of the field, e.g. "email"
	Message string
}

// Error is orgd's application error: a code, a message fit for the client and,
// for EINVALID, the fields at fault.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
	// RetryAfter, for ETOOMANY and EUNAVAILABLE, is when the client may try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("orgd error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error
// and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-facing message of err; internal errors get a
// generic one so that no driver text or stack trace leaks.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the field errors carried by err, if any.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorRetryAfter returns the wait that err asks of the client, or zero.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
