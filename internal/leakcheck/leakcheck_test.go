package leakcheck_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/orgd/orgd/internal/leakcheck"
)

// TestLeaks checks that a secret is found as written and as a log handler
// quotes it, and that short strings are not looked for.
func TestLeaks(t *testing.T) {
	l := leakcheck.New()
	l.Secret("password", `pass"word with quote`)
	l.Secret("token", "eyJhbGciOiJIUzI1NiJ9.e30.sig")
	l.Secret("short", "abc")
	log := slog.New(slog.NewTextHandler(l, nil))
	log.Info("clean line", "user", "someone")
	if leaks, lines := l.Leaks(); len(leaks) != 0 || lines != 1 {
		t.Fatalf("clean log: %v, %d lines", leaks, lines)
	}
	log.Info("login", "body", `{"password":"pass\"word with quote"}`) // escaped by the handler
	fmt.Fprintf(l, "raw Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig\n")
	log.Info("abc is too short to count")
	leaks, _ := l.Leaks()
	if len(leaks) != 2 {
		t.Fatalf("leaks %v, want 2", leaks)
	}
	for _, s := range leaks {
		if strings.Contains(s, "eyJhbGci") || strings.Contains(s, "with quote") {
			t.Errorf("the report repeats the secret: %s", s)
		}
	}
}
