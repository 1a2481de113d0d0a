package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeEdges checks the server orgd builds: OPTIONS * reaches orgd's
// handler (its headers, log line and metrics), a request net/http refuses
// before any handler is answered with a problem document, and a request still
// running when the shutdown's time is up is cut off before the database
// closes under it.
func TestServeEdges(t *testing.T) {
	var reached atomic.Int32
	started, cancelled := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "*" {
			reached.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(time.Minute):
		}
	})
	s, err := listen("test", "127.0.0.1:0", h, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.hs.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, slog.New(slog.DiscardHandler), []*httpServer{s}, 200*time.Millisecond) }()

	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if reached.Load() != 1 {
		t.Errorf("OPTIONS * was answered %d by net/http, not by orgd's handler", res.StatusCode)
	}

	c, err = net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\n\r\n") // no Host
	res, err = http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 400 || ct != "application/problem+json" {
		t.Errorf("a request without Host: %d, Content-Type %q; want 400 application/problem+json", res.StatusCode, ct)
	}

	go func() {
		if res, err := http.Get("http://" + s.ln.Addr().String() + "/slow"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("serve returned, but the request still running was not cut off")
	}
}
