package orgd_test

import (
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/orgd/orgd"
)

// FuzzValidate checks the name, email and password rules against what they
// promise: whatever passes is safe to use as a collection name, a login key
// and a bcrypt input, and no input makes them panic.
func FuzzValidate(f *testing.F) {
	f.Add("acme", "admin@acme.test", "correct horse")
	f.Add("_x", "Bob <b@x.co>", "short")
	f.Add(strings.Repeat("a", 49), strings.Repeat("a", 250)+"@b.co", strings.Repeat("é", 37))
	f.Add("ac.me", "a@b", "pass\x00word")
	name := regexp.MustCompile(orgd.NamePattern)
	f.Fuzz(func(t *testing.T, n, email, pw string) {
		if orgd.ValidateName(n) == "" {
			c := orgd.CollectionName(n)
			if !name.MatchString(n) || len(n) < orgd.NameMinLen || len(n) > orgd.NameMaxLen ||
				strings.ContainsAny(c, "$.\x00/ ") || orgd.NormalizeName(c[len(orgd.CollectionPrefix):]) != c[len(orgd.CollectionPrefix):] {
				t.Fatalf("name %q accepted (collection %q)", n, c)
			}
		}
		if orgd.ValidateEmail(email) == "" {
			a, err := mail.ParseAddress(email)
			if err != nil || a.Address != email || len(email) > orgd.EmailMaxLen || !strings.Contains(email, "@") {
				t.Fatalf("email %q accepted", email)
			}
			if k := orgd.NormalizeEmail(email); orgd.NormalizeEmail(k) != k {
				t.Fatalf("normalizing %q is not idempotent", email)
			}
		}
		if orgd.ValidatePassword(pw) == "" {
			if len(pw) < orgd.PasswordMinBytes || len(pw) > orgd.PasswordMaxBytes || strings.IndexByte(pw, 0) >= 0 || !utf8.ValidString(pw) {
				t.Fatalf("password of %d bytes accepted: %q", len(pw), pw)
			}
		}
	})
}
