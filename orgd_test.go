package orgd_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/orgd/orgd"
)

func TestValidateName(t *testing.T) {
	re := regexp.MustCompile(orgd.NamePattern)
	tests := []struct {
		name string
		ok   bool
	}{
		{"acme", true}, {"Acme-Corp_2", true}, {"9lives", true}, {"abc", true},
		{strings.Repeat("a", 48), true}, {strings.Repeat("a", 49), false},
		{"ab", false}, {"", false}, {"-acme", false}, {"_acme", false},
		{"ac me", false}, {"ac.me", false}, {"ac$me", false}, {"acmé", false}, {"ac/me", false},
	}
	for _, tt := range tests {
		if got := orgd.ValidateName(tt.name) == ""; got != tt.ok {
			t.Errorf("ValidateName(%q) ok = %v, want %v", tt.name, got, tt.ok)
		}
		// The pattern published in the API schema agrees with the rule.
		inLen := len(tt.name) >= orgd.NameMinLen && len(tt.name) <= orgd.NameMaxLen
		if got := inLen && re.MatchString(tt.name); got != tt.ok {
			t.Errorf("schema pattern on %q = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		email string
		ok    bool
	}{
		{"a@b.co", true}, {"first.last+tag@example.com", true}, {"ADMIN@Example.COM", true},
		{"", false}, {"plain", false}, {"a@b", false}, {"Bob <a@b.co>", false}, {" a@b.co", false},
		{"a@@b.co", false}, {strings.Repeat("a", 250) + "@b.co", false},
		{"jos\u00e9@b.co", true}, {"a@b.co\u200b", false}, {"a\u200bb@b.co", false}, {"\u202ea@b.co", false},
		{"a\u00a0b@b.co", false}, {"a\u2028@b.co", false},
		{"a\u3164@b.co", false}, {"a\u115fb@b.co", false}, {"a\u2800@b.co", false}, {"a\ufe0f@b.co", false}, {"a\u034f@b.co", false},
		{"\u00fcber@b.co", true}, {"u\u0308ber@b.co", true},
		{"\u1820\u180b\u1821@b.co", true}, {"\u8fbb\U000e0100@b.co", true}, {"\u0645\u06cc\u200c\u0634\u0648\u0645@b.co", true},
		{"a\u200c@b.co", false}, {"a\u200db@b.co", false}, {"\ufe0fa@b.co", false},
		{"jos\u00e9\u200d@b.co", false}, {"jos\u00e9\ufe0f@b.co", false}, {"\u0645\u200c\u200c@b.co", false},
		{"admin\u17d2\u200d@b.co", false}, {"admin\u1039@b.co", false}, {"admin\u093c\u200d@b.co", false},
		{"\u0645\u064e\u200c\u0634@b.co", true}, {"\u0915\u094d\u200d\u0937@b.co", true}, {"cafe\u0301@b.co", true},
		{"\u2764\ufe0f@b.co", true}, {"\U0001f468\u200d\U0001f4bb@b.co", true}, {"\U0001f3f3\ufe0f\u200d\U0001f308@b.co", true},
		{"\u0645\u200c@b.co", false}, {"\u0915\u200d@b.co", false}, {"\u674e\u200d@b.co", false}, {"\u0915\u200cadmin@b.co", false},
		{"\u2764\ufe0f\ufe0f@b.co", false}, {"\U0001f468\u200da@b.co", false},
	}
	for _, tt := range tests {
		if got := orgd.ValidateEmail(tt.email) == ""; got != tt.ok {
			t.Errorf("ValidateEmail(%q) ok = %v, want %v", tt.email, got, tt.ok)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		pw string
		ok bool
	}{
		{"12345678", true}, {strings.Repeat("x", 72), true}, {strings.Repeat("é", 36), true},
		{"1234567", false}, {strings.Repeat("x", 73), false}, {strings.Repeat("é", 37), false},
		{"pass\x00word", false}, {"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", false},
	}
	for _, tt := range tests {
		if got := orgd.ValidatePassword(tt.pw) == ""; got != tt.ok {
			t.Errorf("ValidatePassword(%q) ok = %v, want %v", tt.pw, got, tt.ok)
		}
	}
}

func TestNormalization(t *testing.T) {
	if got := orgd.CollectionName("Acme-Corp"); got != "org_acme-corp" {
		t.Errorf("CollectionName = %q", got)
	}
	if orgd.NormalizeEmail("Admin@Example.COM") != orgd.NormalizeEmail("admin@example.com") {
		t.Error("emails differing in case normalize differently")
	}
}

func TestErrors(t *testing.T) {
	var v orgd.Validation
	v.Check("email", "")
	if v.Err() != nil {
		t.Error("no failed check, yet an error")
	}
	v.Check("email", "is bad")
	err := v.Err()
	if orgd.ErrorCode(err) != orgd.EINVALID || len(orgd.ErrorFields(err)) != 1 {
		t.Errorf("validation error %v", err)
	}
	if orgd.ErrorMessage(errString("driver: secret detail")) != "Internal error." {
		t.Error("an internal error's text reaches clients")
	}
}

type errString string

func (e errString) Error() string { return string(e) }
