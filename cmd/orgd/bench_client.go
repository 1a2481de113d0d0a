package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// benchDoer sends one request.
type benchDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// connClient sends each request on a keep-alive connection that it holds
// for that request only, writing and reading on the caller's goroutine, as
// the driver does with its connections: the requests are written and the
// responses parsed by the standard library. (The standard library's client
// hands every request to two goroutines of its connection; at concurrency 1
// that adds about 0.04 ms here, five times orgd's handler chain, so compared
// with the driver it would measure the two clients. `-client net/http` uses it.)
type connClient struct {
	dial func(ctx context.Context, addr string) (net.Conn, error)
	mu   sync.Mutex
	idle map[string][]*clientConn // by host:port
}

type clientConn struct {
	net.Conn
	addr string
	br   *bufio.Reader
	bw   *bufio.Writer
}

func (c *connClient) get(addr string) (cc *clientConn, reused bool, err error) {
	c.mu.Lock()
	if idle := c.idle[addr]; len(idle) > 0 {
		cc = idle[len(idle)-1]
		c.idle[addr] = idle[:len(idle)-1]
		c.mu.Unlock()
		return cc, true, nil
	}
	c.mu.Unlock()
	conn, err := c.dial(context.Background(), addr)
	if err != nil {
		return nil, false, err
	}
	return &clientConn{Conn: conn, addr: addr, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn)}, false, nil
}

func (c *connClient) put(cc *clientConn) {
	c.mu.Lock()
	if c.idle == nil {
		c.idle = map[string][]*clientConn{}
	}
	c.idle[cc.addr] = append(c.idle[cc.addr], cc)
	c.mu.Unlock()
}

// Do sends req and reads its whole response. A kept connection that the
// server closed in the meantime is replaced by another.
func (c *connClient) Do(req *http.Request) (*http.Response, error) {
	for {
		cc, reused, err := c.get(req.URL.Host)
		if err != nil {
			return nil, err
		}
		res, err := cc.roundTrip(req)
		if err == nil {
			if res.Close {
				_ = cc.Close()
			} else {
				c.put(cc)
			}
			return res, nil
		}
		_ = cc.Close()
		if !reused || req.GetBody == nil && req.Body != nil ||
			!(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
			return nil, err
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

func (cc *clientConn) roundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Write(cc.bw); err != nil {
		return nil, err
	}
	if err := cc.bw.Flush(); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(cc.br, req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	res.Body = http.NoBody
	return res, err
}
