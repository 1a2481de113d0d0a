package mongodb_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"github.com/orgd/orgd/mongodb"
)

// stallProxy forwards to target; once stalled, the answers to commands
// (those that carry a session id: not the monitoring's heartbeats) stop
// coming back, as from a server that is up but does not answer.
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var data atomic.Bool
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if bytes.Contains(buf[:n], []byte("lsid")) {
							data.Store(true)
						}
						if _, werr := s.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				s.Close()
			}()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					for data.Load() && p.stalled.Load() {
						time.Sleep(10 * time.Millisecond)
					}
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.stalled.Store(false) })
	return p
}

// TestWriteHonoursTheDatabaseTimeout stalls the database under a record
// write whose client then hangs up: the write ends with a 503 once the
// database timeout (1 s here) has passed, as a read does, rather than
// running on for the write's own bound (80 s).
func TestWriteHonoursTheDatabaseTimeout(t *testing.T) {
	f := newFixture(t)
	f.clock = nil
	host := strings.TrimPrefix(f.db.URI, "mongodb://")
	host = strings.SplitN(host, "/", 2)[0]
	host = strings.SplitN(host, "?", 2)[0]
	p := newStallProxy(t, host)
	client, err := mongodb.ConnectWith(context.Background(), "mongodb://"+p.ln.Addr().String()+"/?directConnection=true", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := f.storeOn(client, "")
	defer s.Close()
	o := mustCreate(t, s, "acme", "a@example.com")
	p.stalled.Store(true)
	defer p.stalled.Store(false)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := s.CreateRecord(ctx, o, []byte(`{"a":2}`)); done <- err }()
	time.AfterFunc(2*time.Second, cancel) // the client hangs up too
	select {
	case err := <-done:
		if orgd.ErrorCode(err) != orgd.EUNAVAILABLE {
			t.Errorf("the write with the database stalled: %v, want it unavailable", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("the write with the database stalled and a timeout of 1 s still runs after 20 s")
	}
}
