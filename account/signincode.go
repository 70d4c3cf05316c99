package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/store"
)

// SignInCodeTTL is how long an administrator-issued sign-in code lives.
const SignInCodeTTL = 15 * time.Minute

// SignInCodesConfig holds what SignInCodes needs.
type SignInCodesConfig struct {
	Store SignInCodeStore
	Users Users
	// Throttle limits failed redemptions per client address (nil: a
	// default in-memory throttle).
	Throttle *Throttle
	TTL      time.Duration // default SignInCodeTTL
	Now      func() time.Time
}

// SignInCodes issues and redeems administrator-issued one-time sign-in
// codes (the source system's "authenticate to the system administrator
// directly"): random, short-lived, single-use, stored only as a hash.
//
// A code is signInCodeLen characters of Crockford's base32 (60 random
// bits), shown in groups of four ("7KQ2-M9XD-0RTE"). What the person types
// is normalised (normalizeSignInCode) and its SHA-256 looked up by primary
// key, so no secret is compared byte by byte here. Failed redemptions are
// counted per client address by the log-in Throttle (signInCodeKey): with
// 2^60 codes and the throttle's limit per window, guessing a live code
// within its lifetime is out of reach.
type SignInCodes struct {
	cfg SignInCodesConfig
}

// NewSignInCodes returns the sign-in code service.
func NewSignInCodes(cfg SignInCodesConfig) *SignInCodes {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL <= 0 {
		cfg.TTL = SignInCodeTTL
	}
	if cfg.Throttle == nil {
		cfg.Throttle = NewThrottle(ThrottleConfig{Now: cfg.Now})
	}
	return &SignInCodes{cfg: cfg}
}

// ErrInactiveAccount refuses a sign-in code for a deactivated account.
var ErrInactiveAccount = errors.New("account: the account is deactivated")

// Issue makes a new code for the active account userID, replacing any
// earlier code of that account, and returns it (shown once) with its
// expiry. issuedBy is the administrator's account id. An unknown account
// is store.ErrNotFound, a deactivated one ErrInactiveAccount.
func (c *SignInCodes) Issue(ctx context.Context, userID, issuedBy string) (code string, expires time.Time, err error) {
	u, err := c.cfg.Users.User(ctx, userID)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("account: sign-in code for %s: %w", userID, err)
	}
	if !u.Active {
		return "", time.Time{}, fmt.Errorf("account: sign-in code for %s: %w", userID, ErrInactiveAccount)
	}
	code, normal, err := newSignInCode()
	if err != nil {
		return "", time.Time{}, err
	}
	if err := c.cfg.Store.DeleteSignInCodes(ctx, userID); err != nil {
		return "", time.Time{}, fmt.Errorf("account: sign-in code for %s: %w", userID, err)
	}
	now := c.cfg.Now()
	sc := &SignInCode{Hash: signInCodeHash(normal), UserID: userID, IssuedBy: issuedBy, Created: now, Expires: now.Add(c.cfg.TTL)}
	if err := c.cfg.Store.PutSignInCode(ctx, sc); err != nil {
		return "", time.Time{}, fmt.Errorf("account: sign-in code for %s: %w", userID, err)
	}
	return code, sc.Expires, nil
}

// Redeem uses code once and returns its active account; a wrong, used or
// expired code gives ErrBadCredentials, too many failures from address
// ErrThrottled.
//
// Like Authenticate, the attempt is counted by the throttle before
// anything is looked up (per address, signInCodeKey): ErrThrottled
// without a lookup while the address is locked; ErrBadCredentials for a
// malformed, unknown, used or expired code and for a code whose account is
// gone or deactivated (each a failure); other errors for storage failures
// (not counted).
func (c *SignInCodes) Redeem(ctx context.Context, code, address string) (*User, error) {
	var u *User
	err := c.cfg.Throttle.guard(ctx, signInCodeKey(address), address, func() (err error) {
		u, err = c.redeem(ctx, code)
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (c *SignInCodes) redeem(ctx context.Context, code string) (*User, error) {
	normal, ok := normalizeSignInCode(code)
	if !ok {
		return nil, ErrBadCredentials
	}
	sc, err := c.cfg.Store.TakeSignInCode(ctx, signInCodeHash(normal), c.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("account: redeem sign-in code: %w", err)
	}
	u, err := c.cfg.Users.User(ctx, sc.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("account: redeem sign-in code: %w", err)
	}
	if !u.Active {
		return nil, ErrBadCredentials
	}
	return u, nil
}

// signInCodeAlphabet is Crockford's base32: no I, L, O or U, so that a
// code read aloud or copied by hand is not misread.
const signInCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// signInCodeLen is the number of characters of a code: 12 × 5 = 60 bits.
const signInCodeLen = 12

// maxSignInCodeInput bounds what normalizeSignInCode reads (a code with
// generous separators fits many times over).
const maxSignInCodeInput = 64

// newSignInCode returns a random code as shown (grouped by four) and in
// its normal form (what is hashed).
func newSignInCode() (shown, normal string, err error) {
	var b [signInCodeLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("account: sign-in code: %w", err)
	}
	var n strings.Builder
	for _, x := range b {
		n.WriteByte(signInCodeAlphabet[x&31]) // 256 is a multiple of 32: uniform
	}
	normal = n.String()
	return normal[0:4] + "-" + normal[4:8] + "-" + normal[8:12], normal, nil
}

// normalizeSignInCode is the normal form of a code as a person typed it:
// upper case, without dashes and white space, with Crockford's look-alikes
// read as digits (O as 0; I and L as 1). It reports false unless that is
// signInCodeLen characters of signInCodeAlphabet.
func normalizeSignInCode(s string) (string, bool) {
	if len(s) > maxSignInCodeInput {
		return "", false
	}
	var n strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		switch r {
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(signInCodeAlphabet, r) || n.Len() == signInCodeLen {
			return "", false
		}
		n.WriteRune(r)
	}
	if n.Len() != signInCodeLen {
		return "", false
	}
	return n.String(), true
}

// signInCodeHash is what the store keeps of a code in normal form.
func signInCodeHash(normal string) []byte {
	h := sha256.Sum256([]byte(normal))
	return h[:]
}
