package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/orgd/orgd/api"
)

// httpServer is one listening address and what serves it.
type httpServer struct {
	ln net.Listener
	hs *http.Server
}

// listen binds addr for h; setting names the configuration to change when
// the address cannot be bound.
func listen(setting, addr string, h http.Handler, logger *slog.Logger) (*httpServer, error) {
	var ln net.Listener
	var err error
	if path, ok := socketPath(addr); ok {
		ln, err = listenUnix(path)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: cannot listen: %w", setting, addr, err)
	}
	return &httpServer{ln: api.ProblemListener(ln, logger), hs: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// OPTIONS * too goes through orgd's handler: its headers, log line and metrics.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// base is the URL that reaches the server: one a browser opens, or on a
// Unix socket an http+unix:// one.
func (s *httpServer) base() string {
	a := s.ln.Addr()
	if a.Network() == "unix" {
		return unixBase(a.String())
	}
	return "http://" + displayAddr(a)
}

// serve serves every server until ctx ends, then lets in-flight requests
// finish for up to timeout and cuts off the rest, whose work (the database
// they use) is about to close. One server failing stops them all.
func serve(ctx context.Context, logger *slog.Logger, servers []*httpServer, timeout time.Duration) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.hs.Serve(s.ln) }()
	}
	var failed error
	select {
	case err := <-errc:
		failed = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		logger.Info("shutting down: finishing in-flight requests (a second Ctrl-C stops at once)", "timeout", timeout.String())
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			if err := s.hs.Shutdown(sctx); err != nil {
				_ = s.hs.Close()
				logger.Warn("requests still running at shutdown were cut off", "err", err)
			}
		})
	}
	wg.Wait()
	// Every Serve has returned, and so closed its listener (a Unix socket's
	// removal with it), before the caller goes on: a Shutdown that came
	// first leaves the close to Serve.
	left := len(servers)
	if failed != nil {
		left--
	}
	for range left {
		<-errc
	}
	return failed
}
