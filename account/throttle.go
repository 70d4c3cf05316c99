package account

import (
	"context"
	"errors"
	"net/netip"
	"strings"
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
	// (default 30). Checks in flight count against both.
	MaxPerAccount int
	MaxPerAddress int
	Window        time.Duration // default 15m
	Lockout       time.Duration // default 15m
	// MaxWait is how long Reserve waits for a slot held by a check in
	// flight before it refuses (default 10s).
	MaxWait time.Duration
	// MaxEntries bounds memory (default 100000); when full, the oldest
	// quarter of the entries is dropped.
	MaxEntries int
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Lockouts, when set, records each account's lockout (of its password
	// or of its second factor) when it starts, so that a restart keeps it
	// (Restore) and another process (smartgate user unlock) can lift it:
	// while this process holds a recorded lockout, each refused attempt
	// looks it up there once, and an attempt after it was deleted is let
	// through. Address limits stay in this process.
	Lockouts Lockouts
	// Users finds the account id of a user name for Unlock, which lifts
	// the second-factor lockout too; Unlock needs it.
	Users UserLookup
}

// Throttle limits password checks, and second-factor codes (counted per
// account apart from passwords, see secondFactorKey), per account and per
// client address.
//
// An attempt is counted before its password is checked: Reserve takes a
// slot for the account and one for the address. It refuses (ErrThrottled)
// when either is locked or its failures in the window reach the limit; when
// only checks in flight fill the slots (failures plus checks in flight at
// the limit), it waits, up to MaxWait, for one of them to end. The caller ends each
// reserved attempt with exactly one of Attempt.Succeeded (the slots are
// released and the account's failures forgotten), Attempt.Failed (the slots
// stay taken as failures; at the limit the key is locked for Lockout) or
// Attempt.Abandoned (released, nothing counted: no check ran). So however
// many requests arrive at once, no more than MaxPerAccount passwords are
// checked for one account, and no more than MaxPerAddress from one address,
// per window.
//
// With ThrottleConfig.Lockouts, an account's lockout is also recorded in
// the store (see there); Unlock lifts one in this process and in the store.
//
// Limits: the counts (and, without Lockouts, the lockouts) live in one
// process and are lost on restart; a distributed attacker with many
// addresses is held back only by the per-account limit, which in turn
// lets anyone lock an account out for Lockout (the usual trade-off;
// Lockout is short on purpose, and an administrator can Unlock). Log-ins in
// flight from one address count against it too, so more than MaxPerAddress
// people behind one address logging in at the very same moment wait for
// each other (and see the throttled answer after MaxWait).
type Throttle struct {
	cfg     ThrottleConfig
	mu      sync.Mutex
	entries map[string]*throttleEntry
	ended   chan struct{} // closed and replaced whenever an attempt ends
}

type throttleEntry struct {
	failures    int // within the window that began at first
	inflight    int // reserved, not yet ended
	first       time.Time
	lockedUntil time.Time
	recorded    bool // lockedUntil is in cfg.Lockouts: confirm it there before refusing
}

// NewThrottle returns a Throttle with cfg's settings.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.MaxPerAccount <= 0 {
		cfg.MaxPerAccount = DefaultMaxPerAccount
	}
	if cfg.MaxPerAddress <= 0 {
		cfg.MaxPerAddress = DefaultMaxPerAddress
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultThrottleWindow
	}
	if cfg.Lockout <= 0 {
		cfg.Lockout = DefaultLockout
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, entries: map[string]*throttleEntry{}, ended: make(chan struct{})}
}

// The defaults of ThrottleConfig.
const (
	DefaultMaxPerAccount  = 10
	DefaultMaxPerAddress  = 30
	DefaultThrottleWindow = 15 * time.Minute
	DefaultLockout        = 15 * time.Minute
)

// The keys of the entries, one kind per prefix (limit reads it); the account
// keys are also those of ThrottleConfig.Lockouts.
func accountKey(userName string) string { return "u:" + userName }

// secondFactorKey counts second-factor codes of the account with id userID
// apart from its passwords, so that a right password (which forgets the
// account's password failures) does not also forget failed codes.
func secondFactorKey(userID string) string { return "f:" + userID }

// signInCodeKey counts the sign-in codes (SignInCodes.Redeem) tried from
// address apart from its passwords, limited like an account
// (MaxPerAccount): a code names no account before it is found. The
// address's own key counts them too.
func signInCodeKey(address string) string {
	return "c:" + strings.TrimPrefix(addressKey(address), "a:")
}

// addressKey groups IPv6 addresses by /64 (one subscriber usually holds a
// whole /64, so per-address counting would be trivial to evade).
func addressKey(addr string) string {
	if ip, err := netip.ParseAddr(addr); err == nil && ip.Is6() && !ip.Is4In6() {
		if p, err := ip.Prefix(64); err == nil {
			return "a:" + p.String()
		}
	}
	return "a:" + addr
}

// Attempt is a reserved password check; end it with exactly one of
// Succeeded, Failed or Abandoned (later calls do nothing).
type Attempt struct {
	t     *Throttle
	ctx   context.Context // of Reserve, to record a lockout that this attempt starts
	keys  []string        // account key first, then the address key if any
	ended bool
}

// Reserve counts a password check for the account userName (the PRECIS
// key) from address (may be empty: then only the account is counted). It
// returns ErrThrottled, reserving nothing, when the account or the address
// is locked or its failures reach the limit, or when no slot held by a
// check in flight frees within MaxWait (or before ctx ends).
func (t *Throttle) Reserve(ctx context.Context, userName, address string) (*Attempt, error) {
	return t.reserve(ctx, accountKey(userName), address)
}

// guard runs check as one throttled attempt on the account key account
// from address: ErrThrottled without running it when the key or the
// address is locked; check's ErrBadCredentials counts as a failure, nil as
// a success, any other error as neither. It is the one pattern of the
// one-time codes (second factor, sign-in codes).
func (t *Throttle) guard(ctx context.Context, account, address string, check func() error) error {
	attempt, err := t.reserve(ctx, account, address)
	if err != nil {
		return err
	}
	err = check()
	switch {
	case err == nil:
		attempt.Succeeded()
	case errors.Is(err, ErrBadCredentials):
		attempt.Failed()
	default:
		attempt.Abandoned()
	}
	return err
}

// reserve is Reserve for the account key account (accountKey for
// passwords, secondFactorKey for second-factor codes).
func (t *Throttle) reserve(ctx context.Context, account, address string) (*Attempt, error) {
	var timeout <-chan time.Time
	for {
		t.mu.Lock()
		a, busy, err := t.tryReserve(account, address)
		ended := t.ended
		var recorded time.Time
		if err != nil {
			recorded = t.recordedLockout(account)
		}
		t.mu.Unlock()
		if err != nil && !recorded.IsZero() && t.lifted(ctx, account, recorded) {
			continue // lifted elsewhere: try again
		}
		if !busy {
			if a != nil {
				a.ctx = ctx
			}
			return a, err
		}
		if timeout == nil {
			tm := time.NewTimer(t.cfg.MaxWait)
			defer tm.Stop()
			timeout = tm.C
		}
		select {
		case <-ended:
		case <-timeout:
			return nil, ErrThrottled
		case <-ctx.Done():
			return nil, ErrThrottled
		}
	}
}

// tryReserve is one try of Reserve; busy means only checks in flight hold
// the slots. Called with mu held.
func (t *Throttle) tryReserve(account, address string) (a *Attempt, busy bool, err error) {
	now := t.cfg.Now()
	keys := []string{account}
	if address != "" {
		keys = append(keys, addressKey(address))
	}
	for _, k := range keys {
		e := t.entries[k]
		if e == nil {
			continue
		}
		t.expire(e, now)
		if now.Before(e.lockedUntil) || e.failures >= t.limit(k) {
			return nil, false, ErrThrottled
		}
		if e.failures+e.inflight >= t.limit(k) {
			busy = true
		}
	}
	if busy {
		return nil, true, nil
	}
	if len(t.entries) >= t.cfg.MaxEntries {
		t.prune(now)
	}
	for _, k := range keys {
		e := t.entries[k]
		if e == nil {
			e = &throttleEntry{first: now}
			t.entries[k] = e
		}
		e.inflight++
	}
	return &Attempt{t: t, keys: keys}, false, nil
}

func (t *Throttle) limit(key string) int {
	if key[0] == 'a' {
		return t.cfg.MaxPerAddress
	}
	return t.cfg.MaxPerAccount
}

// expire starts a new window for e once the old one is over and e is not
// locked. Called with mu held.
func (t *Throttle) expire(e *throttleEntry, now time.Time) {
	if now.Sub(e.first) > t.cfg.Window && !now.Before(e.lockedUntil) {
		e.failures = 0
		e.first = now
	}
}

// Succeeded ends the attempt as a right password: its slots are released
// and the account's failures forgotten (not the address's).
func (a *Attempt) Succeeded() {
	a.end(func(i int, e *throttleEntry, _ time.Time) {
		if i == 0 {
			e.failures = 0
		}
	})
}

// Failed ends the attempt as a wrong password: it counts as a failure for
// the account and the address, and locks whichever reaches its limit.
func (a *Attempt) Failed() {
	a.end(func(_ int, e *throttleEntry, now time.Time) {
		a.t.expire(e, now)
		e.failures++
	})
}

// Abandoned ends an attempt whose password could not be checked (the
// caller went away, the store failed): nothing is counted.
func (a *Attempt) Abandoned() { a.end(func(int, *throttleEntry, time.Time) {}) }

func (a *Attempt) end(f func(i int, e *throttleEntry, now time.Time)) {
	if until := a.endLocked(f); !until.IsZero() {
		a.t.record(a.ctx, a.keys[0], until)
	}
}

// endLocked ends the attempt under mu; it returns the end of the account's
// lockout when the attempt started one that is to be recorded.
func (a *Attempt) endLocked(f func(i int, e *throttleEntry, now time.Time)) (record time.Time) {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.ended {
		return time.Time{}
	}
	a.ended = true
	close(t.ended)
	t.ended = make(chan struct{})
	now := t.cfg.Now()
	for i, k := range a.keys {
		e := t.entries[k]
		if e == nil {
			continue
		}
		if e.inflight > 0 {
			e.inflight--
		}
		f(i, e, now)
		if e.failures >= t.limit(k) {
			e.lockedUntil = now.Add(t.cfg.Lockout)
			e.failures = 0
			e.first = now
			e.recorded = false
			if i == 0 && t.persisted(k) {
				record = e.lockedUntil
			}
		}
		if e.failures == 0 && e.inflight == 0 && !now.Before(e.lockedUntil) {
			delete(t.entries, k)
		}
	}
	return record
}

// prune drops entries with nothing in flight whose window and lockout are
// over, then, if still full, other entries with nothing in flight until a
// quarter is free: first those with no failures, then those with failures
// but no lockout. A running lockout is never dropped, so that filling the
// table with fresh keys cannot lift one (or reset a second factor's failure
// count before it). Called with mu held.
func (t *Throttle) prune(now time.Time) {
	for k, e := range t.entries {
		if e.inflight == 0 && now.Sub(e.first) > t.cfg.Window && !now.Before(e.lockedUntil) {
			delete(t.entries, k)
		}
	}
	for _, spare := range []func(e *throttleEntry) bool{
		func(e *throttleEntry) bool { return e.failures == 0 },
		func(e *throttleEntry) bool { return true },
	} {
		for k, e := range t.entries {
			if len(t.entries) <= t.cfg.MaxEntries*3/4 {
				return
			}
			if e.inflight == 0 && !now.Before(e.lockedUntil) && spare(e) {
				delete(t.entries, k)
			}
		}
	}
}
