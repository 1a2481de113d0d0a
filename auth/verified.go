package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedMax bounds how many verified tokens are remembered: about 100
// bytes each.
const verifiedMax = 50_000

// verified remembers the tokens that passed Verify, by their SHA-256, so that
// a client sending the same token on every request pays for parsing and
// checking it once. A token's bytes fix everything Verify checks except
// time, and a Tokens' keys never change, so a remembered token is only
// checked against the clock again. Keying by hash keeps the tokens
// themselves out of memory and their comparison free of timing signals.
type verified struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]Claims
}

func (v *verified) get(token string) (Claims, [sha256.Size]byte, bool) {
	k := sha256.Sum256([]byte(token))
	v.mu.RLock()
	c, ok := v.m[k]
	v.mu.RUnlock()
	return c, k, ok
}

// put remembers c; when full, it first forgets the expired tokens and, if
// that is not enough, a tenth of the others.
func (v *verified) put(k [sha256.Size]byte, c Claims, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[[sha256.Size]byte]Claims{}
	}
	if len(v.m) >= verifiedMax {
		for key, old := range v.m {
			if now.After(old.ExpiresAt) {
				delete(v.m, key)
			}
		}
		for key := range v.m {
			if len(v.m) < verifiedMax*9/10 {
				break
			}
			delete(v.m, key)
		}
	}
	v.m[k] = c
}

func (v *verified) forget(k [sha256.Size]byte) {
	v.mu.Lock()
	delete(v.m, k)
	v.mu.Unlock()
}

// current reports whether claims that were valid when first verified still
// are at now: expiry and issue time, with leeway.
func current(c Claims, now time.Time, leeway time.Duration) bool {
	return now.Before(c.ExpiresAt.Add(leeway)) && !now.Add(leeway).Before(c.IssuedAt)
}
