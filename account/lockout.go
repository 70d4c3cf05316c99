package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/store"
)

// recordTimeout bounds the store write that records a lockout; it runs
// even when the attempt's request has ended (the lockout must not depend
// on the attacker staying connected).
const recordTimeout = 5 * time.Second

// persisted reports whether the lockout of key may go to cfg.Lockouts: the
// account keys of valid user names and of second factors. A name that
// cannot be an account (Authenticate counts it all the same) is locked in
// this process only, so that junk names do not fill the store; record
// also leaves out well-formed names of no account (accountExists).
func (t *Throttle) persisted(key string) bool {
	if t.cfg.Lockouts == nil {
		return false
	}
	if name, ok := strings.CutPrefix(key, "u:"); ok {
		n, err := NormalizeUserName(name)
		return err == nil && n == name
	}
	return strings.HasPrefix(key, "f:")
}

// record writes the lockout of key until until to the store and, once it
// is there, marks the entry as recorded (so that refusals confirm it). A
// failed write leaves the lockout in this process only: still refusing,
// but neither surviving a restart nor lifted by another process.
func (t *Throttle) record(ctx context.Context, key string, until time.Time) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if !t.accountExists(ctx, key) {
		return
	}
	if err := t.cfg.Lockouts.PutLockout(ctx, key, until); err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil && e.lockedUntil.Equal(until) {
		e.recorded = true
	}
}

// accountExists reports whether the user-name key names an account (keys
// of second factors always do). Only a lockout is looked up, never an
// ordinary attempt; a failed lookup counts as an account, so that a store
// hiccup keeps a real lockout recorded.
func (t *Throttle) accountExists(ctx context.Context, key string) bool {
	name, ok := strings.CutPrefix(key, "u:")
	if !ok || t.cfg.Users == nil {
		return true
	}
	_, err := t.cfg.Users.UserByName(ctx, name)
	return !errors.Is(err, store.ErrNotFound)
}

// recordedLockout is the end of key's running lockout when it is recorded
// in the store, else the zero time. Called with mu held.
func (t *Throttle) recordedLockout(key string) time.Time {
	e := t.entries[key]
	if e == nil || !e.recorded || !t.cfg.Now().Before(e.lockedUntil) {
		return time.Time{}
	}
	return e.lockedUntil
}

// lifted looks up key's lockout, which this process holds until seen, in
// the store (one lookup, made without mu) and reports whether it is gone
// there (deleted by another process, or over): then the entry is cleared.
// A failed lookup keeps the lockout.
func (t *Throttle) lifted(ctx context.Context, key string, seen time.Time) bool {
	until, err := t.cfg.Lockouts.Lockout(ctx, key)
	if err != nil || until.After(t.cfg.Now()) {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil && e.lockedUntil.Equal(seen) {
		t.clearEntry(key, e)
	}
	return true
}

// clearEntry forgets key's failures and lockout, keeping only its checks
// in flight. Called with mu held.
func (t *Throttle) clearEntry(key string, e *throttleEntry) {
	e.failures, e.lockedUntil, e.recorded, e.first = 0, time.Time{}, false, t.cfg.Now()
	if e.inflight == 0 {
		delete(t.entries, key)
	}
}

// Restore loads the running lockouts recorded in ThrottleConfig.Lockouts
// (nothing without it), so that they hold after a restart; call it once,
// before the first attempt.
func (t *Throttle) Restore(ctx context.Context) error {
	if t.cfg.Lockouts == nil {
		return nil
	}
	now := t.cfg.Now()
	running, err := t.cfg.Lockouts.ActiveLockouts(ctx, now)
	if err != nil {
		return fmt.Errorf("account: restore lockouts: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, until := range running {
		e := t.entries[key]
		if e == nil {
			e = &throttleEntry{first: now}
			t.entries[key] = e
		}
		if until.After(e.lockedUntil) {
			e.lockedUntil, e.recorded = until, true
		}
	}
	return nil
}

// Unlock lifts the lockout of the account userName (normalised like
// Authenticate does) and of its second factor, and forgets their failures,
// in this process and in ThrottleConfig.Lockouts: an administrator who
// unlocks a person lets them try again at once. It needs ThrottleConfig.Users
// (to find the account id); an unknown user name is not an error (its
// password lockout, if any, is lifted all the same). Address limits are
// not touched: an address is not a person.
func (t *Throttle) Unlock(ctx context.Context, userName string) error {
	if t.cfg.Users == nil {
		return errors.New("account: Throttle.Unlock needs ThrottleConfig.Users")
	}
	name, nerr := NormalizeUserName(userName)
	if nerr != nil {
		name = userName
	}
	keys := []string{accountKey(name)}
	if nerr == nil {
		u, err := t.cfg.Users.UserByName(ctx, name)
		switch {
		case err == nil:
			keys = append(keys, secondFactorKey(u.ID))
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("account: unlock %q: %w", name, err)
		}
	}
	if t.cfg.Lockouts != nil {
		for _, k := range keys {
			if err := t.cfg.Lockouts.DeleteLockout(ctx, k); err != nil {
				return fmt.Errorf("account: unlock %q: %w", name, err)
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if e := t.entries[k]; e != nil {
			t.clearEntry(k, e)
		}
	}
	return nil
}
