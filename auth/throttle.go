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
// sliding window. An attempt in flight counts against both limits until it
// ends (so concurrent guesses cannot slip past them), but only a failed one
// is remembered. It is in memory: each instance counts on its own.
type Throttle struct {
	cfg      ThrottleConfig
	mu       sync.Mutex
	accounts map[string]*bucket
	addrs    map[string]*bucket
}

// bucket holds the times of the failures still in the window, oldest first,
// where they came from, and how many attempts are in flight.
type bucket struct {
	at       []time.Time
	from     []string
	inFlight int
}

// Verdict is the throttle's answer to an attempt, or to its failure.
type Verdict struct {
	Allowed bool
	Scope   string // "account" or "address": the limit that refused, or that this failure reaches
	// Busy is true when the failures alone are under the limit, and the
	// attempts in flight would reach it if they all failed: not a lockout,
	// the client may try again once they end.
	Busy bool
	// RetryAfter, when refused: until the oldest failure leaves the window,
	// or a second when Busy.
	RetryAfter time.Duration
	// Locks is true when this failure reaches a limit: it starts a lockout,
	// which deserves an audit event.
	Locks bool
	// AddressLocks is true when this failure, which locks the account, also
	// reaches the address limit: a second lockout, of the address, which
	// deserves its own audit event.
	AddressLocks bool
	// From lists the client addresses of the failures that make up the
	// count that locks (an address lockout's is the address, as counted),
	// for the audit event of a lockout.
	From []string
}

// busyRetry is how long a client refused because of attempts in flight is
// asked to wait: about as long as one password check.
const busyRetry = time.Second

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

// Attempt asks whether a login for account from addr may be tried now. An
// allowed attempt is in flight until Failed, Succeeded or Cancel ends it.
func (t *Throttle) Attempt(account, addr string) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	// A refused attempt adds no key: a client over its limit cannot grow
	// the maps by trying new accounts.
	acc, ad := t.peek(t.accounts, account, now), t.peek(t.addrs, addr, now)
	if acc != nil && len(acc.at) >= t.cfg.AccountLimit {
		return Verdict{Scope: ScopeAccount, RetryAfter: acc.at[0].Add(t.cfg.Window).Sub(now)}
	}
	if ad != nil && len(ad.at) >= t.cfg.AddrLimit {
		return Verdict{Scope: ScopeAddress, RetryAfter: ad.at[0].Add(t.cfg.Window).Sub(now)}
	}
	if acc != nil && len(acc.at)+acc.inFlight >= t.cfg.AccountLimit {
		return Verdict{Scope: ScopeAccount, Busy: true, RetryAfter: busyRetry}
	}
	if ad != nil && len(ad.at)+ad.inFlight >= t.cfg.AddrLimit {
		return Verdict{Scope: ScopeAddress, Busy: true, RetryAfter: busyRetry}
	}
	t.get(t.accounts, account, now).inFlight++
	t.get(t.addrs, addr, now).inFlight++
	return Verdict{Allowed: true}
}

// Failed records that the attempt failed on the password (or an unknown
// account), and says whether that failure reaches a limit.
func (t *Throttle) Failed(account, addr string) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	acc, ad := t.get(t.accounts, account, now), t.get(t.addrs, addr, now)
	acc.end()
	ad.end()
	acc.add(now, addr)
	ad.add(now, "")
	switch {
	case len(acc.at) == t.cfg.AccountLimit:
		return Verdict{Locks: true, Scope: ScopeAccount, From: distinct(acc.from), AddressLocks: len(ad.at) == t.cfg.AddrLimit}
	case len(ad.at) == t.cfg.AddrLimit:
		return Verdict{Locks: true, Scope: ScopeAddress, From: []string{addr}}
	}
	return Verdict{}
}

// Succeeded records that the attempt succeeded: the account's failures are
// forgotten, and the address keeps its own.
func (t *Throttle) Succeeded(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.accounts[account]; b != nil {
		b.at, b.from = nil, nil
	}
	t.end(t.accounts, account)
	t.end(t.addrs, addr)
}

// Cancel ends an attempt that failed for another reason than the password
// (the database or the hash queue was unavailable): it does not count.
func (t *Throttle) Cancel(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end(t.accounts, account)
	t.end(t.addrs, addr)
}

// end ends an attempt in flight for key, dropping a bucket left empty.
func (t *Throttle) end(m map[string]*bucket, key string) {
	if b := m[key]; b != nil {
		if b.end(); b.empty() {
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
	oldestKey, oldest := "", time.Time{}
	for k, b := range m {
		b.expire(cutoff)
		last := now // attempts in flight go last
		if len(b.at) > 0 && b.inFlight == 0 {
			last = b.at[len(b.at)-1]
		}
		if b.empty() {
			delete(m, k)
		} else if oldest.IsZero() || last.Before(oldest) {
			oldestKey, oldest = k, last
		}
	}
	if len(m) >= t.cfg.MaxKeys {
		delete(m, oldestKey)
	}
}

func (b *bucket) add(at time.Time, from string) {
	b.at, b.from = append(b.at, at), append(b.from, from)
}

func (b *bucket) end() { b.inFlight = max(0, b.inFlight-1) }

func (b *bucket) empty() bool { return len(b.at) == 0 && b.inFlight == 0 }

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
