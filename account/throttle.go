package account

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// ErrThrottled is returned while an account or an address is locked out
// after too many failed log-ins.
var ErrThrottled = errors.New("account: too many failed log-ins; try again later")

// ThrottleConfig tunes a Throttle. The zero value gives the defaults.
type ThrottleConfig struct {
	// MaxPerAccount failures within Window lock the account for Lockout
	// (default 10). MaxPerAddress does the same for a client address
	// (default 30).
	MaxPerAccount int
	MaxPerAddress int
	Window        time.Duration // default 15m
	Lockout       time.Duration // default 15m
	// MaxEntries bounds memory (default 100000); when full, the oldest
	// quarter of the entries is dropped.
	MaxEntries int
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

// Throttle counts failed log-ins per account and per address in memory and
// locks either out once it reaches its limit.
//
// Limits: the counts live in one process and are lost on restart; a
// distributed attacker with many addresses is held back only by the
// per-account limit, which in turn lets anyone lock an account out for
// Lockout (the usual trade-off; Lockout is short on purpose).
type Throttle struct {
	cfg     ThrottleConfig
	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	failures    int
	first       time.Time
	lockedUntil time.Time
}

// NewThrottle returns a Throttle with cfg's settings.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.MaxPerAccount <= 0 {
		cfg.MaxPerAccount = 10
	}
	if cfg.MaxPerAddress <= 0 {
		cfg.MaxPerAddress = 30
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.Lockout <= 0 {
		cfg.Lockout = 15 * time.Minute
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, entries: map[string]*throttleEntry{}}
}

func accountKey(userName string) string { return "u\x00" + userName }

// addressKey groups IPv6 addresses by /64 (one subscriber usually holds a
// whole /64, so per-address counting would be trivial to evade).
func addressKey(addr string) string {
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() && !ip.Is4In6() {
		if p, err := ip.Prefix(64); err == nil {
			return "a\x00" + p.String()
		}
	}
	return "a\x00" + addr
}

// Check returns ErrThrottled when the account or the address is locked.
func (t *Throttle) Check(userName, address string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	for _, k := range []string{accountKey(userName), addressKey(address)} {
		if e := t.entries[k]; e != nil && now.Before(e.lockedUntil) {
			return ErrThrottled
		}
	}
	return nil
}

// Failure records a failed log-in for the account and the address.
func (t *Throttle) Failure(userName, address string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	if len(t.entries) >= t.cfg.MaxEntries {
		t.prune(now)
	}
	t.fail(accountKey(userName), t.cfg.MaxPerAccount, now)
	if address != "" {
		t.fail(addressKey(address), t.cfg.MaxPerAddress, now)
	}
}

func (t *Throttle) fail(key string, limit int, now time.Time) {
	e := t.entries[key]
	if e == nil || now.Sub(e.first) > t.cfg.Window && !now.Before(e.lockedUntil) {
		e = &throttleEntry{first: now}
		t.entries[key] = e
	}
	e.failures++
	if e.failures >= limit {
		e.lockedUntil = now.Add(t.cfg.Lockout)
		e.failures = 0
		e.first = now
	}
}

// Success forgets the account's failures (not the address's).
func (t *Throttle) Success(userName string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, accountKey(userName))
}

// prune drops expired entries, then, if still full, arbitrary ones until a
// quarter is free. Called with mu held.
func (t *Throttle) prune(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.first) > t.cfg.Window && !now.Before(e.lockedUntil) {
			delete(t.entries, k)
		}
	}
	for k := range t.entries {
		if len(t.entries) <= t.cfg.MaxEntries*3/4 {
			break
		}
		delete(t.entries, k)
	}
}
