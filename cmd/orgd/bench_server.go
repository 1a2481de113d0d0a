package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orgd/orgd/auth"
)

// benchServer is the orgd process under measurement: this same executable,
// started with the bench's settings.
type benchServer struct {
	env    []string
	cmd    *exec.Cmd
	base   string // its API's URL, http:// even when it is on a socket
	socket string // the Unix socket its API is on, if it is
}

// dial connects to the server's API, on its socket when it has one.
func (s *benchServer) dial(ctx context.Context, addr string) (net.Conn, error) {
	if s.socket != "" {
		return (&net.Dialer{}).DialContext(ctx, "unix", s.socket)
	}
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

func (s *benchServer) start() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(benchEnviron(), s.env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.base, s.socket = cmd, "", ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if api, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "API:"); ok {
			s.base = strings.TrimSpace(api)
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if esc, ok := strings.CutPrefix(s.base, "http+unix://"); ok {
		path, err := url.PathUnescape(esc)
		if err != nil {
			s.stop()
			return fmt.Errorf("the server's API %s: %w", s.base, err)
		}
		s.base, s.socket = "http://orgd", path
	}
	if s.base == "" {
		s.stop()
		return fmt.Errorf("the server did not start")
	}
	return nil
}

// stop ends the server gracefully and waits for it.
func (s *benchServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}

func (s *benchServer) pid() int { return s.cmd.Process.Pid }

// peakRSS is the running server's peak resident set size in MiB.
func (s *benchServer) peakRSS() float64 { return rssMiB(s.pid(), "VmHWM") }

// benchState is what a data directory kept with -data remembers of its
// seeding, so that a later run at the same size skips it.
type benchState struct {
	Orgs       int             `json:"orgs"`
	Records    int             `json:"records_per_org"`
	BcryptCost int             `json:"bcrypt_cost"`
	Seeded     []benchStateOrg `json:"seeded"`
}

type benchStateOrg struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"` // as seeded; the email derives from it
	Records []string `json:"records"`
}

const benchStateFile = "bench-state.json"

// save remembers the seeded organizations in dir.
func (e *benchEnv) save(bc benchConfig, dir string) error {
	st := benchState{Orgs: bc.orgs, Records: bc.records, BcryptCost: bc.bcryptCost}
	for _, o := range e.orgs {
		st.Seeded = append(st.Seeded, benchStateOrg{ID: o.org.ID, Name: o.org.Name, Records: o.records})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, benchStateFile), b, 0o600)
}

// load takes the organizations seeded by an earlier run in dir, if it was
// seeded with the same sizes, with their current names (an interrupted
// run may have left some renamed), and mints their admins' tokens.
func (e *benchEnv) load(ctx context.Context, bc benchConfig, dir string, tokens *auth.Tokens) (bool, error) {
	if bc.dataDir == "" {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, benchStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	var st benchState
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("%s: %w", benchStateFile, err)
	}
	if st.Orgs != bc.orgs || st.Records != bc.records || st.BcryptCost != bc.bcryptCost {
		return false, fmt.Errorf("-data %s was seeded with -orgs %d -records %d -bcrypt-cost %d: use those, or another directory",
			dir, st.Orgs, st.Records, st.BcryptCost)
	}
	current, err := e.organizations(ctx)
	if err != nil {
		return false, err
	}
	for _, so := range st.Seeded {
		o, ok := current[so.ID]
		if !ok {
			return false, fmt.Errorf("-data %s: seeded organization %s is gone: use another directory", dir, so.ID)
		}
		bo := &benchOrg{name: o.Name, org: o, records: so.Records}
		o.Name = so.Name // renames toggle between the seeded name and name-r
		if err := bo.mint(tokens); err != nil {
			return false, err
		}
		e.orgs = append(e.orgs, bo)
	}
	return true, nil
}

// cacheCounts reads the server's cache hits and misses from its metrics.
func (s *benchServer) cacheCounts(c *http.Client) (hits, misses float64) {
	m := s.metrics(c)
	return m[`orgd_cache_hits_total{cache="master"}`], m[`orgd_cache_misses_total{cache="master"}`]
}

// settle waits until the server has finished its first reconciler round, a
// sweep that reads the master collections whole and lists every database and
// collection (at 10,000 organizations on the embedded database, seconds of
// CPU): what is measured is then the server's steady state, not its start.
func (s *benchServer) settle(ctx context.Context, c *http.Client) error {
	if res, err := c.Get(s.base + "/metrics"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /metrics answered %d", res.StatusCode)
		}
	}
	for {
		sweeps := 0.0
		for name, v := range s.metrics(c) {
			if strings.HasPrefix(name, `orgd_reconciler_runs_total{kind="sweep"`) {
				sweeps += v
			}
		}
		if sweeps > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// metrics reads the server's metrics: each series' value by its name and
// labels, as exposed.
func (s *benchServer) metrics(c *http.Client) map[string]float64 {
	out := map[string]float64{}
	res, err := c.Get(s.base + "/metrics")
	if err != nil {
		return out
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// benchEnviron is this process's environment without orgd's settings: the
// server measured is configured by the bench alone (ORGD_ADMIN_ADDR would
// take /metrics off its port, ORGD_CACHE_SYNC=0 its cache), whatever this
// shell says. MONGODB_URI stays: it says which database to measure.
func benchEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORGD_") {
			env = append(env, kv)
		}
	}
	return env
}
