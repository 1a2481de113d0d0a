// Package orgd holds the domain of the organization service: its types,
// validation rules and error codes. It depends on nothing but the standard library.
package orgd

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Organization is a tenant: its metadata and where its data lives.
type Organization struct {
	ID         string
	Name       string // as the user spelled it
	Database   string // database holding the tenant collection
	Collection string // "org_" + lower-cased name
	AdminID    string
	AdminEmail string
	Status     Status
	Version    int64 // changes whenever an operation starts on the organization
	CreatedAt  time.Time
	UpdatedAt  time.Time

	Deployment string  // name of the MongoDB deployment holding its data
	Tenancy    Tenancy // how its data is laid out there
}

// Status is where an organization is in its lifecycle.
type Status string

// Lifecycle states: only an active organization serves requests.
const (
	StatusCreating Status = "creating"
	StatusActive   Status = "active"
	StatusRenaming Status = "renaming"
	StatusDeleting Status = "deleting"
	// StatusMoving: the last step of a move to another deployment or tenancy
	// model is running; reads are served, writes to its data must wait.
	StatusMoving Status = "moving"
)

// Writable reports whether the organization's data may be written now: only
// an active organization's may (a moving one's are paused for a short window).
func (o *Organization) Writable() bool { return o.Status == StatusActive }

// Readable reports whether an organization in status s is served to readers:
// an active one, and a moving one, whose move pauses only writes.
func (s Status) Readable() bool { return s == StatusActive || s == StatusMoving }

// SignsIn reports whether the organization's admin may log in and use
// tokens now: not while it is still being created, nor once its deletion
// has begun.
func (o *Organization) SignsIn() bool {
	return o.Status != StatusCreating && o.Status != StatusDeleting
}

// Tenancy is how an organization's data is laid out on its deployment.
type Tenancy string

// Tenancy models.
const (
	// TenancyCollection: one collection org_<name> in the shared tenant database.
	TenancyCollection Tenancy = "collection"
	// TenancyDatabase: a database of its own, <prefix>org_<name>, holding the
	// collection org_<name> and any other collection of the organization.
	TenancyDatabase Tenancy = "database"
)

// Placement says where an organization's data goes; an empty field leaves
// the choice to orgd's configuration and placement policy.
type Placement struct {
	Deployment string
	Tenancy    Tenancy
}

// ValidateTenancy checks a tenancy model name; empty is allowed (the default).
func ValidateTenancy(t Tenancy) string {
	if t != "" && t != TenancyCollection && t != TenancyDatabase {
		return `must be "collection" or "database"`
	}
	return ""
}

// ValidateDeployment checks a deployment name: 1-32 characters of a-z, 0-9,
// '_' or '-', starting with a letter or digit.
func ValidateDeployment(name string) string {
	if name == "" || len(name) > 32 {
		return "must be 1 to 32 characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '-')
		if !ok {
			return "must be 1 to 32 characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
		}
	}
	return ""
}

// Admin is an organization's administrator account.
type Admin struct {
	ID           string
	OrgID        string
	Email        string
	PasswordHash string // bcrypt; never leaves the service
}

// OrganizationUpdate lists the changes asked of an organization; nil means unchanged.
type OrganizationUpdate struct {
	Name         *string
	Email        *string
	PasswordHash *string
}

// Limits on user input.
const (
	NameMinLen       = 3
	NameMaxLen       = 48
	EmailMaxLen      = 254
	PasswordMinBytes = 8
	PasswordMaxBytes = 72 // bcrypt ignores bytes past 72; longer is refused, never truncated
	CollectionPrefix = "org_"
	NamePattern      = `^[A-Za-z0-9][A-Za-z0-9_-]*$`
)

func validName(s string) bool {
	if len(s) < NameMinLen || len(s) > NameMaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// ValidID reports whether s could be an id orgd gave (an organization's, an
// audit event's): 26 characters of Crockford's base 32 in capitals, as the
// store compares them byte by byte, the first at most 7 (more overflows
// 128 bits).
func ValidID(s string) bool {
	if len(s) != 26 || s[0] > '7' {
		return false
	}
	for i := range len(s) {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", rune(s[i])) {
			return false
		}
	}
	return true
}

// NormalizeName returns the case-insensitive key of an organization name.
func NormalizeName(name string) string { return strings.ToLower(name) }

// NormalizeEmail returns the case-insensitive key of an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CollectionName returns the tenant collection of an organization name.
func CollectionName(name string) string { return CollectionPrefix + NormalizeName(name) }

// ValidateName checks an organization name.
func ValidateName(name string) string {
	if !validName(name) {
		return "must be 3 to 48 characters of A-Z, a-z, 0-9, '_' or '-', starting with a letter or digit"
	}
	return ""
}

// EmailRule is what ValidateEmail says of a string that is not a plain email
// address.
const EmailRule = "must be a plain email address such as admin@example.com"

// ValidateEmail checks an admin email address.
func ValidateEmail(email string) string {
	if email == "" {
		return "is required"
	}
	if len(email) > EmailMaxLen {
		return "must be at most 254 bytes"
	}
	var base, prev rune // the last character that is not a mark or a joiner, and the last
	rs := []rune(email)
	for i, r := range rs {
		next := rune(0)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		if invisible(r, base, prev, next) {
			return "must not contain spaces, control or invisible characters"
		}
		if !unicode.Is(unicode.M, r) && !joiner(r) {
			base = r
		}
		prev = r
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return EmailRule
	}
	at := strings.LastIndexByte(email, '@')
	if !strings.Contains(email[at+1:], ".") && email[at+1:] != "localhost" {
		return "must have a domain such as example.com"
	}
	return ""
}

// invisible reports whether r, on base, between prev and next, shows
// nothing, or nothing of its own: such characters make look-alikes of other
// addresses. Some count as graphic (the Hangul fillers, the blank braille
// pattern), hence Unicode's default-ignorable code points besides. Joiners
// and variation selectors shape the scripts that need them (Mongolian, Han,
// Arabic and Persian, the Indic scripts) and emoji: one at a time, on a
// letter of those, a (non-)joiner before a letter or mark of the same
// script; on an emoji, a presentation selector, or a joiner before another.
// A combining mark of one script on a letter of another is all but
// invisible there.
func invisible(r, base, prev, next rune) bool {
	zw := func(c rune) bool { return c == '\u200c' || c == '\u200d' }
	if joiner(r) {
		switch {
		case unicode.Is(unicode.So, base) && (r == '\ufe0e' || r == '\ufe0f'):
			return unicode.Is(unicode.Variation_Selector, prev)
		case unicode.Is(unicode.So, base) && r == '\u200d':
			return zw(prev) || !unicode.Is(unicode.So, next)
		case joiner(prev) || !unicode.IsLetter(base) || !unicode.In(base, unicode.Mongolian, unicode.Han,
			unicode.Arabic, unicode.Syriac, unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati,
			unicode.Oriya, unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala,
			unicode.Myanmar, unicode.Khmer):
			return true
		case zw(r):
			s := scriptOf(next)
			return !unicode.IsLetter(next) && !unicode.Is(unicode.M, next) || s != "" && s != scriptOf(base)
		}
		return false
	}
	if unicode.Is(unicode.M, r) {
		if s := scriptOf(r); s != "" && s != scriptOf(base) {
			return true
		}
	}
	return !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == '\u2800' ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// joiner reports whether r is a zero-width (non-)joiner or a variation selector.
func joiner(r rune) bool {
	return r == '\u200c' || r == '\u200d' || unicode.Is(unicode.Variation_Selector, r)
}

// scriptOf is the name of r's script, "" for the characters every script
// shares (Common, Inherited).
func scriptOf(r rune) string {
	for name, t := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(t, r) {
			return name
		}
	}
	return ""
}

// ValidatePassword checks a new password: CheckablePassword's rules, and a
// minimum length.
func ValidatePassword(pw string) string {
	if msg := CheckablePassword(pw); msg != "" {
		return msg
	}
	if len(pw) < PasswordMinBytes {
		return "must be at least 8 bytes"
	}
	return ""
}

// CheckablePassword checks a password against bcrypt's limits, which a
// login's must meet to be compared at all.
func CheckablePassword(pw string) string {
	switch {
	case !utf8.ValidString(pw):
		return "must be valid UTF-8"
	case strings.IndexByte(pw, 0) >= 0:
		return "must not contain a NUL byte"
	case len(pw) > PasswordMaxBytes:
		return "must be at most 72 bytes (bcrypt's limit); longer passwords are refused, not truncated"
	}
	return ""
}

// Validation collects field errors.
type Validation []FieldError

// Check records msg against field when msg is not empty.
func (v *Validation) Check(field, msg string) {
	if msg != "" {
		*v = append(*v, FieldError{Field: field, Message: msg})
	}
}

// Err returns an EINVALID *Error listing the field errors, or nil.
func (v Validation) Err() error {
	if len(v) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "The request has invalid fields.", Fields: v}
}

// Limits on records, the documents of an organization's collection.
const (
	RecordMaxBytes = 1 << 20 // a record's JSON
	RecordMaxDepth = 32      // objects and arrays nested in one another, the record itself included
	// RecordMaxFields bounds the fields of any one object, the record itself
	// included: the embedded database's time to read an object grows with the
	// square of its field count (0.01 s at 1,000, 0.35 s at 10,000), and a
	// record with one object of 80,000 fields could no longer be read at all.
	RecordMaxFields = 1000
	ListMaxLimit    = 1000
	ListDefLimit    = 100
)

// RecordQuery selects a page of records in id order.
type RecordQuery struct {
	Limit int      // 1 to ListMaxLimit
	After string   // the last id of the previous page; "" for the first
	Where []Filter // all must hold
}

// Filter is an equality condition on a top-level scalar field.
type Filter struct {
	Field string
	Value string // matched as the string, and as the number, boolean or null it spells
}

// RecordPage is one page of records, as JSON objects.
type RecordPage struct {
	Records [][]byte
	Next    string // the cursor of the next page; "" when this is the last
}

// ImportReport says what an import did, line by line.
type ImportReport struct {
	Imported int
	Rejected []LineError // the first rejected lines (at most 1,000)
	// RejectedTotal counts every rejected line, listed or not.
	RejectedTotal int
	// Through is the last line whose fate is settled: an import that stops
	// early has done every line up to it and none after, so a client resumes
	// from the next one.
	Through int
	// Unsure, past Through, is the last line of a batch that was written,
	// in part or whole, but whose write failed or could not be settled (its
	// organization was still being changed, or the database failed): the
	// lines after Through up to it may or may not have been imported.
	Unsure int
}

// LineError is why one line of an import was rejected.
type LineError struct {
	Line  int // from 1
	Error string
}
