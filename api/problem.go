package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
	"github.com/orgd/orgd/auth"
)

// codes maps each orgd error code to its HTTP status: the one such table.
var codes = map[string]int{
	orgd.EMALFORMED:    http.StatusBadRequest,
	orgd.EINVALID:      http.StatusUnprocessableEntity,
	orgd.ECONFLICT:     http.StatusConflict,
	orgd.ENOTFOUND:     http.StatusNotFound,
	orgd.EUNAUTHORIZED: http.StatusUnauthorized,
	orgd.EFORBIDDEN:    http.StatusForbidden,
	orgd.ETOOMANY:      http.StatusTooManyRequests,
	orgd.EUNAVAILABLE:  http.StatusServiceUnavailable,
	orgd.EINTERNAL:     http.StatusInternalServerError,
}

// problem turns an application error into a huma error; internal errors are
// logged and answered with a generic message.
func (s *Server) problem(ctx context.Context, err error) error {
	if errors.Is(err, auth.ErrBusy) {
		err = &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "Too many password checks are waiting; retry shortly.", RetryAfter: time.Second}
	}
	if p, ok := bodyFailure(ctx); ok { // whatever failed next, this is why
		return p
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The client went away, or the server is stopping: not a failure of
		// orgd's, so not logged as one.
		err = &orgd.Error{Code: orgd.EUNAVAILABLE, Message: "The request was cancelled before it completed."}
	}
	code := orgd.ErrorCode(err)
	if code == orgd.EINTERNAL {
		s.Logger.ErrorContext(ctx, "internal error", "err", err)
	}
	var details []error
	for _, f := range orgd.ErrorFields(err) {
		loc := "body"
		if f.Field != "" && f.Field != "body" {
			loc += "." + f.Field
		}
		details = append(details, &huma.ErrorDetail{Location: loc, Message: f.Message})
	}
	status := codes[code]
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		wait := int(math.Ceil(orgd.ErrorRetryAfter(err).Seconds()))
		return huma.ErrorWithHeaders(huma.NewError(status, orgd.ErrorMessage(err), details...),
			http.Header{"Retry-After": {strconv.Itoa(max(wait, 1))}})
	}
	return huma.NewError(status, orgd.ErrorMessage(err), details...)
}

// retryLater adds Retry-After to a 503: the database is expected back.
func retryLater(err error) error {
	return huma.ErrorWithHeaders(err, http.Header{"Retry-After": {"1"}})
}

// writeErr writes err from a middleware, where huma does not do it for us.
func (s *Server) writeErr(ctx huma.Context, err error) {
	var he huma.HeadersError
	if errors.As(err, &he) {
		for k, vs := range he.GetHeaders() {
			for _, v := range vs {
				ctx.AppendHeader(k, v)
			}
		}
	}
	var se huma.StatusError
	if !errors.As(err, &se) {
		se = huma.NewError(http.StatusInternalServerError, "Internal error.")
	}
	_ = huma.WriteErr(s.api, ctx, se.GetStatus(), se.Error())
}

// problemBody is an RFC 9457 problem as orgd writes it: huma's error model
// plus the extension member request_id, which a client quotes to an operator.
type problemBody struct {
	Type      string              `json:"type,omitempty"`
	Title     string              `json:"title,omitempty"`
	Status    int                 `json:"status,omitempty"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	Errors    []*huma.ErrorDetail `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
}

// scrubErrors removes echoed input values from error bodies (they may hold a
// password or a token) and adds the request id.
func scrubErrors(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	for _, d := range em.Errors {
		d.Value = nil
		if strings.HasPrefix(d.Message, "expected string to be RFC 5322 email") {
			// huma's message quotes net/mail's, which for a@b..c says
			// "missing '@'": say what orgd's own check says instead.
			d.Message = orgd.EmailRule
		}
	}
	detail := em.Detail
	if w, ok := validationDetail[em.Status]; ok && detail == "validation failed" { // huma's word for them all
		detail = w
	} else if em.Status == http.StatusRequestEntityTooLarge && strings.HasPrefix(detail, "request body is too large") {
		// huma names its limit, one byte over orgd's (see public).
		detail = fmt.Sprintf("The request body is over %d bytes (1 MiB, and room for a record's id).", maxBody)
	}
	return &problemBody{Type: em.Type, Title: em.Title, Status: em.Status, Detail: detail, Instance: em.Instance,
		Errors: em.Errors, RequestID: requestID(ctx.Context())}, nil
}

// validationDetail words the detail of a problem whose errors list what was
// wrong, by its status.
var validationDetail = map[int]string{
	http.StatusBadRequest:           "The request body is malformed.",
	http.StatusUnsupportedMediaType: "The request body's Content-Type is not supported.",
	http.StatusUnprocessableEntity:  "The request has invalid fields.",
}

// writeProblem writes an RFC 9457 problem outside huma's operations.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&problemBody{Title: http.StatusText(status), Status: status, Detail: detail, RequestID: requestID(r.Context())})
}

// problemMux answers unknown routes (404) and methods (405) with problem+json;
// the standard mux would answer in plain text.
func (s *Server) problemMux(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" { // the server itself, not a path: the mux answers a bare 400
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			writeProblem(w, r, http.StatusBadRequest, "The request target * names no resource; ask for a path.")
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			mux.ServeHTTP(&statusOnly{ResponseWriter: w, r: r}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// problemNotFound answers h's 404s, 405s and 416s as problems (a file
// server's are plain text).
func problemNotFound(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&statusOnly{ResponseWriter: w, r: r}, r)
	})
}

// statusOnly keeps the status and headers (Allow, Content-Range) the mux or
// a file server sets for a request it refuses, and replaces its plain-text or
// empty 404, 405, 412 and 416 bodies.
type statusOnly struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *statusOnly) WriteHeader(status int) {
	path := w.r.URL.EscapedPath() // as sent: /org%2Fget is not /org/get
	switch status {
	case http.StatusNotFound:
		w.replace(status, fmt.Sprintf("No route for %s %s.", w.r.Method, path))
	case http.StatusMethodNotAllowed:
		w.replace(status, fmt.Sprintf("Method %s is not allowed on %s; allowed: %s.", w.r.Method, path, w.Header().Get("Allow")))
	case http.StatusPreconditionFailed:
		w.replace(status, fmt.Sprintf("The condition in If-Match or If-Unmodified-Since does not hold for %s.", path))
	case http.StatusRequestedRangeNotSatisfiable: // Content-Range gives the size
		w.replace(status, fmt.Sprintf("The Range %q is not within %s; its size is in Content-Range.", w.r.Header.Get("Range"), path))
	default:
		w.ResponseWriter.WriteHeader(status)
	}
}

// replace answers a problem instead, without the headers a file server set
// for the file (its length and encoding, which the problem does not have).
func (w *statusOnly) replace(status int, detail string) {
	w.replaced = true
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Encoding", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	writeProblem(w.ResponseWriter, w.r, status, detail)
}

func (w *statusOnly) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// recoverer turns a panic into a logged 500 problem instead of a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.ErrorContext(r.Context(), "panic", "err", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw, ok := w.(interface{ started() bool }); ok && sw.started() {
					// The status is out: a problem after it would end the
					// body well-formed. Break the response instead.
					panic(http.ErrAbortHandler)
				}
				writeProblem(w, r, http.StatusInternalServerError, "Internal error.")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func huma503(msg string) error { return huma.NewError(http.StatusServiceUnavailable, msg) }
