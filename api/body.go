package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"
	"github.com/orgd/orgd"
)

// A request body that cannot be read (malformed chunked encoding, a body
// shorter than its Content-Length, an upload that stalls) is the client's
// mistake. Left alone, the code reading it (huma's decoder, the import)
// would answer 500; bodyGuard remembers the failure so that the answer is
// the 4xx that says what went wrong.

// bodyGuard is a request body that remembers its first read failure.
type bodyGuard struct {
	io.ReadCloser
	err error
	// answered is set once a handler made its problem from err (problem
	// does): its answer may say more than bodyProblem, such as how many
	// lines of an import are done, and is kept.
	answered bool
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	if err != nil && err != io.EOF && g.err == nil && !errors.Is(err, http.ErrBodyReadAfterClose) {
		g.err = err // (reading after close is orgd's own mistake)
	}
	return n, err
}

type bodyGuardKey struct{}

// guardBody wraps r's body, if it has one, and w with it.
func guardBody(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return w, r
	}
	g := &bodyGuard{ReadCloser: r.Body}
	r = r.WithContext(context.WithValue(r.Context(), bodyGuardKey{}, g))
	r.Body = g
	return &guardWriter{ResponseWriter: w, g: g, r: r}, r
}

// bodyFailure returns the problem to answer when the request's body could
// not be read, and false when it could.
func bodyFailure(ctx context.Context) (huma.StatusError, bool) {
	g, _ := ctx.Value(bodyGuardKey{}).(*bodyGuard)
	if g == nil || g.err == nil {
		return nil, false
	}
	g.answered = true
	status, detail := bodyProblem(g.err)
	return huma.NewError(status, detail), true
}

// bodyProblem is the status and explanation for a body read failure.
func bodyProblem(err error) (int, string) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusRequestTimeout, "The request body did not arrive in time."
	}
	return http.StatusBadRequest, "The request body could not be read: it was malformed or cut short."
}

// guardWriter answers the body's problem instead of a 5xx that reading it
// caused, or of huma's terse 408; a handler's own answer to it (an import's
// 408 that says which lines are done) is kept.
type guardWriter struct {
	http.ResponseWriter
	g        *bodyGuard
	r        *http.Request
	replaced bool
}

func (w *guardWriter) WriteHeader(code int) {
	if code < 500 && code != http.StatusRequestTimeout || w.g.err == nil || w.g.answered || w.replaced {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	status, detail := bodyProblem(w.g.err)
	w.Header().Del("Content-Length")
	writeProblem(w.ResponseWriter, w.r, status, detail)
}

func (w *guardWriter) Write(p []byte) (int, error) {
	if w.replaced { // the 5xx's own body
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// SetReadDeadline lets a handler move the read deadline (the import does, as
// long as its body keeps coming) but not clear it. huma clears it before it
// reads a body (every operation asks it to, in place of its default 5 s), and
// the limit that should hold is the server's ReadTimeout for the whole request.
func (w *guardWriter) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(t)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *guardWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// An import's body takes as long as its upload does, as long as it moves:
// the server's ReadTimeout bounds every other request whole, but an import
// may wait importIdle for more of its body, up to importMaxTime in all.
const (
	importIdle    = 30 * time.Second
	importMaxTime = time.Hour
)

// progressReader pushes the connection's read deadline importIdle ahead
// each time it is read, never past end.
type progressReader struct {
	r      io.Reader
	extend func(time.Time) error
	end    time.Time
	idle   time.Duration // 0: importIdle
}

func (p *progressReader) Read(b []byte) (int, error) {
	// A network deadline is wall-clock time, whatever clock the server was given.
	d := time.Now().Add(cmp.Or(p.idle, importIdle))
	if d.After(p.end) {
		d = p.end
	}
	_ = p.extend(d) // unsupported: the server's own limit stays
	return p.r.Read(b)
}

// strictJSON is huma's JSON format, except that what encoding/json would
// read as something else than was sent is refused: an object with a key
// twice (it keeps the last value, where the client, or a proxy that checked
// the body, may have meant the first), and text it would turn into U+FFFD
// (two different passwords would read as one).
func strictJSON() huma.Format {
	return huma.Format{Marshal: huma.DefaultJSONFormat.Marshal, Unmarshal: func(data []byte, v any) error {
		if err := orgd.CheckJSONText(data); err != nil {
			return errors.New(orgd.ErrorMessage(err))
		}
		if key := twiceKey(data); key != "" {
			return fmt.Errorf("field %q appears twice", key)
		}
		err := huma.DefaultJSONFormat.Unmarshal(data, v)
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) { // its message names Go types
			return fmt.Errorf("the %s does not fit where it is: out of range or of the wrong type", ute.Value)
		}
		return err
	}}
}

// foldKey returns the same string for two keys exactly when encoding/json
// takes them for one field name (bytes.EqualFold: Unicode simple folding, so
// "ſ" is an "s" and the Kelvin sign a "k", where strings.ToLower differs).
func foldKey(k string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, k)
}

// twiceKey returns a key that appears twice in one object of data, in any
// case, or "";
// malformed JSON is left for the decoder to report.
func twiceKey(data []byte) string {
	type frame struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && top.keys != nil && top.wantKey {
			// encoding/json matches field names whatever their case:
			// "EMAIL" and "email" would name one field.
			folded := foldKey(key)
			if top.keys[folded] {
				return key
			}
			top.keys[folded], top.wantKey = true, false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return ""
			}
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil { // a value ended: a key comes next
			top.wantKey = true
		}
	}
}
