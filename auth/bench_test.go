package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/orgd/orgd/auth"
)

// BenchmarkVerify measures a token's first verification (signature and
// claims) and the verification of a token seen before, as on every request
// of a client after its first.
func BenchmarkVerify(b *testing.B) {
	tokens, err := auth.NewTokens([]byte(strings.Repeat("s", 32)), 15*time.Minute, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	issue := func() string {
		tok, _, err := tokens.Issue("01M8A6WT9E2RK6BGK85EM4323T", "01M8A6WT9W8Q9AHXTMHJV0NQZ8", "01M8A6WTA0A1B9Z6P0G1NSY1HP")
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	b.Run("first", func(b *testing.B) {
		toks := make([]string, b.N)
		for i := range toks {
			toks[i] = issue()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := tokens.Verify(toks[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		tok := issue()
		b.ReportAllocs()
		for range b.N {
			if _, err := tokens.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
