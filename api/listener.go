package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
)

// ProblemListener returns ln with the answers that net/http writes itself
// turned into problem documents, logged like other requests. A request the
// server cannot read (a malformed request line or header, a head over
// MaxHeaderBytes, an unknown transfer coding) or whose Expect it cannot meet
// never reaches a handler: net/http answers it on the connection, in plain
// text or with no body, and closes it.
func ProblemListener(ln net.Listener, log *slog.Logger) net.Listener {
	return &problemListener{ln, log, securityHeaders(strictCSP)}
}

type problemListener struct {
	net.Listener
	log     *slog.Logger
	headers http.Header
}

func (l *problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c, l: l}, nil
}

// problemConn rewrites net/http's own error answers as they are written.
type problemConn struct {
	net.Conn
	l *problemListener
}

func (c *problemConn) Write(p []byte) (int, error) {
	status, detail, ok := rawErrorAnswer(p)
	if !ok {
		return c.Conn.Write(p)
	}
	id := rand.Text()
	c.l.log.LogAttrs(context.Background(), slog.LevelInfo, "request", slog.String("route", refusedRoute),
		slog.Int("status", status), slog.String("detail", detail), slog.String("request_id", id))
	if _, err := c.Conn.Write(problemAnswer(c.l.headers, status, detail, id)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// refusedRoute names, in the log, the requests net/http refused.
const refusedRoute = "refused"

// CloseWrite lets net/http half-close the connection after its answer to a
// head too large, so that the client reads the answer before the reset.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rawErrorHeaders ends the head of every answer net/http writes itself
// (errorHeaders in net/http's server.go), right after its status line. An
// answer that went through a handler never has them there: its headers are
// sorted, and include Date and a length.
const rawErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rawErrorAnswer returns the status and the problem's detail when p is one
// of net/http's own error answers: "HTTP/1.1 400 Bad Request: missing
// required Host header" and its headers, written in one piece, or its 417.
func rawErrorAnswer(p []byte) (status int, detail string, ok bool) {
	if expectationFailed(p) {
		return http.StatusExpectationFailed, "The request's Expect header is not supported: only 100-continue is.", true
	}
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok {
		return 0, "", false
	}
	end := bytes.IndexByte(rest, '\r')
	if end < 4 || !bytes.HasPrefix(rest[end:], []byte(rawErrorHeaders)) || rest[3] != ' ' {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	// "400 Bad Request: invalid header name": what follows the status text is
	// net/http's own fixed wording, never the client's bytes.
	_, why, _ := bytes.Cut(rest[4:end], []byte(": "))
	detail = rawErrorDetail(status, string(why))
	if status >= 500 { // a transfer coding or an HTTP version orgd does not speak: the client's to change
		status = http.StatusBadRequest
	}
	return status, detail, true
}

// expectationFailed reports whether p is net/http's answer to an Expect
// header other than "100-continue" (sendExpectationFailed in its server.go):
// a head alone, of these lines, in the request's HTTP version. orgd's
// handlers never answer 417.
func expectationFailed(p []byte) bool {
	p, ok := bytes.CutPrefix(p, []byte("HTTP/1."))
	if !ok || len(p) == 0 || p[0] != '0' && p[0] != '1' {
		return false
	}
	rest, ok := bytes.CutPrefix(p[1:], []byte(" 417 Expectation Failed\r\nConnection: close\r\nDate: "))
	date, ok2 := bytes.CutSuffix(rest, []byte("\r\nContent-Length: 0\r\n\r\n"))
	return ok && ok2 && len(date) == len(http.TimeFormat) && !bytes.Contains(date, []byte("\r"))
}

// problemAnswer is the whole answer, closing the connection, for a request
// net/http refused: the security headers every response carries, and a
// request id of its own.
func problemAnswer(security http.Header, status int, detail, id string) []byte {
	body, _ := json.Marshal(&problemBody{Title: http.StatusText(status), Status: status, Detail: detail, RequestID: id})
	h := security.Clone()
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Content-Type", "application/problem+json")
	h.Set(requestIDHeader, id)
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// rawErrorDetail says what was wrong with a request net/http refused.
func rawErrorDetail(status int, why string) string {
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		return "The request's header fields are too large."
	case status == http.StatusNotImplemented:
		return "The request's Transfer-Encoding is not supported: send the body with Content-Length, or chunked."
	case status == http.StatusHTTPVersionNotSupported:
		return "The request's HTTP version is not supported: send HTTP/1.1."
	case why != "":
		return "The request is not valid HTTP/1.1: " + why + "."
	default:
		return "The request is not valid HTTP/1.1: its request line or a header field is malformed."
	}
}
