package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

func BenchmarkVerify(b *testing.B) {
	tokens, err := auth.NewTokens([]byte(strings.Repeat("s", 32)), 15*time.Minute, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := tokens.Issue("01M8A6WT9E2RK6BGK85EM4323T", "01M8A6WT9W8Q9AHXTMHJV0NQZ8", "01M8A6WTA0A1B9Z6P0G1NSY1HP")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if _, err := tokens.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
