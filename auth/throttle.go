package auth

import (
	"slices"
	"sync"
	"time"
)

// Default login limits: ten failures per account and thirty per address in
// fifteen minutes (OWASP ASVS 2.2.1 asks for at most 100 an hour per account).
const (
	DefaultLoginWindow  = 15 * time.Minute
	DefaultAccountLimit = 10
	DefaultAddrLimit    = 30
)

// ThrottleConfig sets the login limits.
type ThrottleConfig struct {
	Window       time.Duration // failures older than this are forgotten
	AccountLimit int           // failed logins per account (from any address) per window
	AddrLimit    int           // failed logins per client address (for any account) per window
	MaxKeys      int           // accounts and addresses remembered; zero means 100,000 each
	Now          func() time.Time
}

// Throttle limits failed logins per account and per client address with a
// sliding window. An attempt counts as a failure from the moment it starts
// (so concurrent guesses cannot slip past the limit) and is taken back when
// it succeeds or fails for another reason than the password. It is in
// memory: each instance counts on its own.
type Throttle struct {
	cfg      ThrottleConfig
	mu       sync.Mutex
	accounts map[string]*bucket
	addrs    map[string]*bucket
}

// bucket holds the times of the failures still in the window, oldest first,
// and where they came from.
type bucket struct {
	at   []time.Time
	from []string
}

// Verdict is the throttle's answer to an attempt.
type Verdict struct {
	Allowed    bool
	Scope      string        // "account" or "address": the limit that refused, or that this attempt reaches
	RetryAfter time.Duration // when refused: until the oldest failure leaves the window
	// Locks is true when this attempt, if it fails, reaches a limit: it
	// starts a lockout, which deserves an audit event.
	Locks bool
	// From lists the client addresses of the failures that make up the
	// account's count, for the audit event of a lockout.
	From []string
}

// Throttle scopes.
const (
	ScopeAccount = "account"
	ScopeAddress = "address"
)

// NewThrottle returns a Throttle with cfg's limits.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, accounts: map[string]*bucket{}, addrs: map[string]*bucket{}}
}

// Attempt asks whether a login for account from addr may be tried now. When
// it may, it is counted as a failure until Succeeded or Cancel says otherwise.
func (t *Throttle) Attempt(account, addr string) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	// A refused attempt adds no key: a client over its limit cannot grow
	// the maps by trying new accounts.
	if acc := t.peek(t.accounts, account, now); acc != nil && len(acc.at) >= t.cfg.AccountLimit {
		return Verdict{Scope: ScopeAccount, RetryAfter: acc.at[0].Add(t.cfg.Window).Sub(now)}
	}
	if ad := t.peek(t.addrs, addr, now); ad != nil && len(ad.at) >= t.cfg.AddrLimit {
		return Verdict{Scope: ScopeAddress, RetryAfter: ad.at[0].Add(t.cfg.Window).Sub(now)}
	}
	acc, ad := t.get(t.accounts, account, now), t.get(t.addrs, addr, now)
	acc.add(now, addr)
	ad.add(now, "")
	v := Verdict{Allowed: true}
	switch {
	case len(acc.at) == t.cfg.AccountLimit:
		v.Locks, v.Scope, v.From = true, ScopeAccount, distinct(acc.from)
	case len(ad.at) == t.cfg.AddrLimit:
		v.Locks, v.Scope = true, ScopeAddress
	}
	return v
}

// Succeeded records that the attempt succeeded: the account's failures are
// forgotten and the attempt no longer counts against the address.
func (t *Throttle) Succeeded(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts, account)
	t.takeBack(t.addrs, addr)
}

// Cancel takes back an attempt that failed for another reason than the
// password (the database or the hash queue was unavailable).
func (t *Throttle) Cancel(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.takeBack(t.accounts, account)
	t.takeBack(t.addrs, addr)
}

func (t *Throttle) takeBack(m map[string]*bucket, key string) {
	if b := m[key]; b != nil && len(b.at) > 0 {
		b.at, b.from = b.at[:len(b.at)-1], b.from[:len(b.from)-1]
		if len(b.at) == 0 {
			delete(m, key)
		}
	}
}

// peek returns key's bucket without its expired failures, or nil.
func (t *Throttle) peek(m map[string]*bucket, key string, now time.Time) *bucket {
	b := m[key]
	if b != nil {
		b.expire(now.Add(-t.cfg.Window))
	}
	return b
}

// get returns key's bucket without its expired failures, making room for a
// new key when the map is full: expired buckets go first, then the oldest.
func (t *Throttle) get(m map[string]*bucket, key string, now time.Time) *bucket {
	b := m[key]
	if b == nil {
		if len(m) >= t.cfg.MaxKeys {
			t.evict(m, now)
		}
		b = &bucket{}
		m[key] = b
	}
	b.expire(now.Add(-t.cfg.Window))
	return b
}

func (t *Throttle) evict(m map[string]*bucket, now time.Time) {
	cutoff := now.Add(-t.cfg.Window)
	oldestKey, oldest := "", now
	for k, b := range m {
		if b.expire(cutoff); len(b.at) == 0 {
			delete(m, k)
		} else if b.at[len(b.at)-1].Before(oldest) {
			oldestKey, oldest = k, b.at[len(b.at)-1]
		}
	}
	if len(m) >= t.cfg.MaxKeys {
		delete(m, oldestKey)
	}
}

func (b *bucket) add(at time.Time, from string) {
	b.at, b.from = append(b.at, at), append(b.from, from)
}

func (b *bucket) expire(cutoff time.Time) {
	i := 0
	for i < len(b.at) && !b.at[i].After(cutoff) {
		i++
	}
	b.at, b.from = b.at[i:], b.from[i:]
}

func distinct(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
