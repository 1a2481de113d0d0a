package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// ProblemListener returns ln with the answers that net/http writes itself
// turned into problem documents. A request the server cannot read (a
// malformed request line or header, a head over MaxHeaderBytes, an unknown
// transfer coding) never reaches a handler: net/http answers it in plain
// text on the connection, and closes it.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

// problemConn rewrites net/http's own error answers as they are written.
type problemConn struct{ net.Conn }

func (c *problemConn) Write(p []byte) (int, error) {
	if b, ok := rawErrorAnswer(p); ok {
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

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

// rawErrorAnswer returns the problem document for p when p is one of
// net/http's own error answers: "HTTP/1.1 400 Bad Request: missing required
// Host header" and its headers, written in one piece.
func rawErrorAnswer(p []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok {
		return nil, false
	}
	end := bytes.IndexByte(rest, '\r')
	if end < 4 || !bytes.HasPrefix(rest[end:], []byte(rawErrorHeaders)) || rest[3] != ' ' {
		return nil, false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	// "400 Bad Request: invalid header name": what follows the status text is
	// net/http's own fixed wording, never the client's bytes.
	_, why, _ := bytes.Cut(rest[4:end], []byte(": "))
	detail := rawErrorDetail(status, string(why))
	if status >= 500 { // a transfer coding or an HTTP version orgd does not speak: the client's to change
		status = http.StatusBadRequest
	}
	body, err := json.Marshal(&problemBody{Title: http.StatusText(status), Status: status, Detail: detail})
	if err != nil {
		return nil, false
	}
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n"+
		"Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n\r\n", status, http.StatusText(status), len(body))
	return append([]byte(head), body...), true
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
