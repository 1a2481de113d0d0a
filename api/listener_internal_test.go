package api

import "testing"

// TestRawErrorAnswer checks which writes are taken for net/http's own error
// answers: only those, never an answer that went through a handler.
func TestRawErrorAnswer(t *testing.T) {
	for _, tt := range []struct {
		name, wrote string
		rewritten   bool
	}{
		{"net/http's 400", "HTTP/1.1 400 Bad Request" + rawErrorHeaders + "400 Bad Request", true},
		{"net/http's 400 with a reason", "HTTP/1.1 400 Bad Request: invalid header name" + rawErrorHeaders + "400 Bad Request: invalid header name", true},
		{"net/http's 431", "HTTP/1.1 431 Request Header Fields Too Large" + rawErrorHeaders + "431 Request Header Fields Too Large", true},
		{"a handler's answer", "HTTP/1.1 400 Bad Request\r\nCache-Control: no-store\r\nContent-Type: application/problem+json\r\nDate: x\r\nContent-Length: 2\r\n\r\n{}", false},
		{"a handler's plain text", "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nDate: x\r\nContent-Length: 2\r\n\r\nno", false},
		{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", false},
		{"a success", "HTTP/1.1 200 OK" + rawErrorHeaders, false},
		{"the rest of a body", "Bad Request" + rawErrorHeaders, false},
		{"a short write", "HTTP/1.1 4", false},
		{"net/http's 417", "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 29 Nov 2026 15:16:43 GMT\r\nContent-Length: 0\r\n\r\n", true},
		{"net/http's 417 to HTTP/1.0", "HTTP/1.0 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 29 Nov 2026 15:16:43 GMT\r\nContent-Length: 0\r\n\r\n", true},
		{"a 417 in another version", "HTTP/1.2 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 29 Nov 2026 15:16:43 GMT\r\nContent-Length: 0\r\n\r\n", false},
		{"a 417 with a body", "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 29 Nov 2026 15:16:43 GMT\r\nContent-Length: 0\r\n\r\n{}", false},
		{"a 417 with other headers", "HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 29 Nov 2026 15:16:43 GMT\r\nX: y\r\nContent-Length: 0\r\n\r\n", false},
	} {
		if _, _, ok := rawErrorAnswer([]byte(tt.wrote)); ok != tt.rewritten {
			t.Errorf("%s: rewritten %v, want %v", tt.name, ok, tt.rewritten)
		}
	}
}
