// Package leakcheck lets a test binary prove that no secret it used reached
// a log: tests register every password, password hash and token they use,
// every logger writes through a Log, and after the run Check scans each line.
package leakcheck

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// minLen is the shortest string worth looking for: shorter ones match by chance.
const minLen = 8

// Log collects log output and secrets.
type Log struct {
	mu      sync.Mutex
	out     bytes.Buffer
	secrets map[string]string // secret -> what it is
}

// New returns an empty Log.
func New() *Log { return &Log{secrets: map[string]string{}} }

// Write appends log output.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

// Tee returns a writer that writes to w and to l.
func (l *Log) Tee(w io.Writer) io.Writer { return io.MultiWriter(w, l) }

// Secret registers s, of the given kind ("password", "token", ...), as a
// string no log may contain.
func (l *Log) Secret(kind, s string) {
	if len(s) < minLen {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secrets[s] = kind
}

// Secrets returns how many secrets are registered.
func (l *Log) Secrets() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.secrets)
}

// Leaks returns one message per log line holding a registered secret, as
// written or escaped once or twice as a quoted string would (a JSON body
// quoted by a log handler); the secret itself is not repeated. It also returns the number of lines scanned.
func (l *Log) Leaks() (leaks []string, lines int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, line := range strings.Split(l.out.String(), "\n") {
		if line == "" {
			continue
		}
		lines++
		for s, kind := range l.secrets {
			once := escaped(s) // as a quoted string, or JSON, holds it
			if strings.Contains(line, s) || strings.Contains(line, once) || strings.Contains(line, escaped(once)) {
				leaks = append(leaks, fmt.Sprintf("log line %d holds a %s (%d bytes): %.80s…", i+1, kind, len(s), strings.ReplaceAll(line, s, "<"+kind+">")))
			}
		}
	}
	return leaks, lines
}

// Check turns a test binary's exit code into a failure when any log line
// holds a secret, or, for a full run, when nothing was logged or registered
// at all (then the scan proved nothing). Use it in TestMain:
// os.Exit(log.Check(m.Run())).
func (l *Log) Check(code int) int {
	if testingFlagSet("-test.fuzzworker") {
		return code
	}
	leaks, lines := l.Leaks()
	switch {
	case len(leaks) > 0:
		fmt.Fprintf(os.Stderr, "leakcheck: %d secrets found in %d log lines:\n  %s\n", len(leaks), lines, strings.Join(leaks, "\n  "))
		return 1
	case code != 0 || testingFlagSet("-test.run"):
		return code // a partial or failed run may have logged nothing
	case lines == 0 || l.Secrets() == 0:
		fmt.Fprintf(os.Stderr, "leakcheck: nothing to check (%d log lines, %d secrets): are loggers and secrets wired to the Log?\n", lines, l.Secrets())
		return 1
	}
	fmt.Fprintf(os.Stderr, "leakcheck: no secret in %d log lines (%d secrets checked)\n", lines, l.Secrets())
	return 0
}

func testingFlagSet(name string) bool {
	for _, a := range os.Args[1:] {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func escaped(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
