package api

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// RequestMetrics records each request; *metrics.Metrics implements it.
type RequestMetrics interface {
	RequestStarted()
	// RequestDone gets the route pattern (e.g. /org/get, or "unmatched"),
	// never the raw path.
	RequestDone(method, route string, status int, d time.Duration)
}

const (
	requestIDHeader = "X-Request-ID"
	maxRequestIDLen = 128
	unmatchedRoute  = "unmatched"
)

// reqInfo is what the request line needs to learn from inside the handler.
// The observe middleware puts it in the request's context; handlers fill it
// in on the request's goroutine, and observe reads it once they returned.
type reqInfo struct {
	id     string
	orgID  string
	hashes bool // the request asked for a password hash
}

type reqInfoKey struct{}

func reqInfoOf(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return info
}

// requestID returns the id of the request ctx belongs to, "" outside one.
func requestID(ctx context.Context) string {
	if info := reqInfoOf(ctx); info != nil {
		return info.id
	}
	return ""
}

// noteOrg tells the request line which organization the caller acts for.
func noteOrg(ctx context.Context, orgID string) {
	if info := reqInfoOf(ctx); info != nil {
		info.orgID = orgID
	}
}

// validRequestID accepts the ids proxies and clients commonly send (UUIDs,
// hex, base64) and nothing that could forge or break a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:+/=", c) >= 0) {
			return false
		}
	}
	return true
}

// observe gives every request an id (a trusted proxy's X-Request-ID when valid),
// returns it in the response header, measures the request and logs one line
// for it. mux is the one that will serve the request: it names the route.
func (s *Server) observe(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		info := &reqInfo{id: r.Header.Get(requestIDHeader)}
		// Only a trusted proxy's id is kept: ids end up in the audit log,
		// where a client must not choose what its events are filed under.
		if !validRequestID(info.id) {
			info.id = rand.Text()
		} else if _, trusted := s.peer(r); !trusted {
			info.id = rand.Text()
		}
		w.Header().Set(requestIDHeader, info.id)
		route := unmatchedRoute
		if _, pattern := mux.Handler(r); pattern != "" {
			_, route, _ = strings.Cut(pattern, " ") // "GET /org/get" -> "/org/get"
		}
		if s.Metrics != nil {
			s.Metrics.RequestStarted()
		}
		sw, returned := &statusWriter{ResponseWriter: w}, false
		defer func() { // also when the handler aborts the response with a panic
			d := s.now().Sub(start)
			status, aborted := sw.status, !returned
			switch {
			case status == 0 && returned:
				status = http.StatusOK // the handler wrote nothing
			case status == 0:
				status = http.StatusInternalServerError // aborted before answering
			case aborted && r.Context().Err() == nil:
				// A stream the server broke after its status failed, whatever
				// the status said; one the client left is not the server's fault.
				status = http.StatusInternalServerError
			}
			if s.Metrics != nil {
				s.Metrics.RequestDone(r.Method, route, status, d)
			}
			if s.HashGate != nil && !info.hashes {
				s.HashGate.Served(start.Add(d))
			}
			s.logRequest(r, route, info, status, aborted, sw.bytes, d)
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info)))
		returned = true
	})
}

// quietRoutes are polled by machines: their successes are logged at debug level.
func quietRoute(route string) bool {
	return route == "/healthz" || route == "/readyz" || route == "/metrics"
}

// logRequest writes the request line. It never logs headers, the query or
// the body: they may hold tokens, passwords or personal data.
func (s *Server) logRequest(r *http.Request, route string, info *reqInfo, status int, aborted bool, bytes int64, d time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case status < 400 && quietRoute(route):
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes", bytes),
		slog.String("request_id", info.id),
	}
	if info.orgID != "" {
		attrs = append(attrs, slog.String("org_id", info.orgID))
	}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	// r's context does not carry info: the request id is an attribute here,
	// and WithRequestID does not add it a second time.
	s.Logger.LogAttrs(r.Context(), level, "request", attrs...)
}

// statusWriter remembers the status and counts the bytes of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses (exports) reach the client as they are written.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// started reports whether the response's status has been sent.
func (w *statusWriter) started() bool { return w.status != 0 }

// WithRequestID wraps a log handler so that every record logged with a
// request's context (ErrorContext, InfoContext, ...) carries its request_id,
// joining a handler's own lines to its request line.
func WithRequestID(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestID(ctx); id != "" && !hasAttr(r, "request_id") { // the audit line names it itself
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// hasAttr reports whether r has a top-level attribute named key.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// notedPasswords notes on each request that asks for a hash that it did, so
// that observe does not count it among the requests hashes make room for.
type notedPasswords struct{ Passwords }

func (p notedPasswords) Hash(ctx context.Context, password string) (string, error) {
	noteHash(ctx)
	return p.Passwords.Hash(ctx, password)
}

func (p notedPasswords) Check(ctx context.Context, hash, password string) (bool, error) {
	noteHash(ctx)
	return p.Passwords.Check(ctx, hash, password)
}

func noteHash(ctx context.Context) {
	if info := reqInfoOf(ctx); info != nil {
		info.hashes = true
	}
}
