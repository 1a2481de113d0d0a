package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tokens, err := auth.NewTokens([]byte(strings.Repeat("s", 32)), 15*time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, c, err := tokens.Issue("admin1", "org1", "session1")
	if err != nil {
		t.Fatal(err)
	}
	if c.ExpiresAt.Sub(c.IssuedAt) != 15*time.Minute {
		t.Errorf("lifetime %v", c.ExpiresAt.Sub(c.IssuedAt))
	}
	got, err := tokens.Verify(tok)
	if err != nil || got.AdminID != "admin1" || got.OrgID != "org1" || got.SessionID != "session1" {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	now = now.Add(16 * time.Minute)
	if _, err := tokens.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired token: %v", err)
	}
	if _, err := auth.NewTokens([]byte("short"), time.Minute, clock); err == nil {
		t.Error("a short secret was accepted")
	}
}

func TestPasswords(t *testing.T) {
	p, err := auth.NewPasswords(4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := p.Hash(ctx, "correct horse")
	if err != nil || !strings.HasPrefix(h, "$2a$04$") {
		t.Fatalf("Hash = %q, %v", h, err)
	}
	tests := []struct {
		hash, pw string
		ok       bool
	}{
		{h, "correct horse", true},
		{h, "correct horsE", false},
		{"", "correct horse", false}, // unknown account: compared with a dummy hash
	}
	for _, tt := range tests {
		if ok, err := p.Check(ctx, tt.hash, tt.pw); ok != tt.ok || err != nil {
			t.Errorf("Check(%q) = %v, %v; want %v", tt.pw, ok, err, tt.ok)
		}
	}
	if _, err := auth.NewPasswords(3); err == nil {
		t.Error("cost 3 was accepted")
	}
}
