package mongodb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orgd/orgd"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// exchange spends the live refresh token prev of a login on s, as a refresh
// does, and stores next in its place.
func exchange(t *testing.T, s interface {
	RefreshTokenByHash(context.Context, string) (*orgd.RefreshToken, error)
	UseRefreshToken(context.Context, orgd.RefreshToken, string) (bool, error)
	AddRefreshToken(context.Context, orgd.RefreshToken) error
}, now time.Time, prev, next string) {
	t.Helper()
	ctx := context.Background()
	rt, err := s.RefreshTokenByHash(ctx, prev)
	if err != nil {
		t.Fatal(err)
	}
	if first, err := s.UseRefreshToken(ctx, *rt, "exchange-"+next); err != nil || !first {
		t.Fatalf("spending %s: first %v, %v", prev, first, err)
	}
	if err := s.AddRefreshToken(ctx, orgd.RefreshToken{Hash: next, SessionID: rt.SessionID, OrgID: rt.OrgID, AdminID: rt.AdminID,
		IssuedAt: now, ExpiresAt: rt.ExpiresAt, TokensUntil: rt.TokensUntil, Replaces: rt.Hash}); err != nil {
		t.Fatal(err)
	}
}

// TestRotationKeepsOneLiveToken refreshes one login 50 times: the refresh
// tokens an exchange looks through first stay one per login, and the first
// token, spent 50 exchanges ago, is still refused as a reuse.
func TestRotationKeepsOneLiveToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	if _, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(time.Hour), "h0"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		exchange(t, s, f.clock.Now(), fmt.Sprintf("h%d", i-1), fmt.Sprintf("h%d", i))
	}
	live, err := f.db.Client.Database(f.db.MasterDB).Collection("refresh_tokens").CountDocuments(ctx, bson.D{})
	if err != nil || live != 1 {
		t.Errorf("%d live refresh tokens (%v) after 50 exchanges of one login, want 1", live, err)
	}
	for _, tt := range []struct {
		hash  string
		first bool
	}{{"h0", false}, {"h49", false}, {"h50", true}} {
		rt, err := s.RefreshTokenByHash(ctx, tt.hash)
		if err != nil {
			t.Fatalf("%s: %v", tt.hash, err)
		}
		if first, err := s.UseRefreshToken(ctx, *rt, "late"); err != nil || first != tt.first {
			t.Errorf("spending %s: first %v (%v), want %v", tt.hash, first, err, tt.first)
		}
	}
}

// TestSpentBeforeTheirOwnCollection presents a token spent when a spent token
// was marked by a "used/" document beside its live copy: it is a reuse.
func TestSpentBeforeTheirOwnCollection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.store("")
	sess, err := s.CreateSession(ctx, "org1", "admin1", f.clock.Now().Add(time.Hour), "h0")
	if err != nil {
		t.Fatal(err)
	}
	refresh := f.db.Client.Database(f.db.MasterDB).Collection("refresh_tokens")
	doc := func(id string) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "session_id", Value: sess.ID}, {Key: "org_id", Value: "org1"}, {Key: "admin_id", Value: "admin1"},
			{Key: "issued_at", Value: f.clock.Now()}, {Key: "expires_at", Value: sess.ExpiresAt}, {Key: "tokens_until", Value: f.clock.Now()}}
	}
	if _, err := refresh.InsertMany(ctx, []any{doc("old"), doc("used/old")}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rt, err := s.RefreshTokenByHash(ctx, "old")
		if err != nil {
			t.Fatal(err)
		}
		if first, err := s.UseRefreshToken(ctx, *rt, "late"); err != nil || first {
			t.Errorf("spending a token spent before: first %v (%v), want a reuse", first, err)
		}
	}
}
