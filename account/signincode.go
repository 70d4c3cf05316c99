package account

import (
	"context"
	"errors"
	"time"
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
type SignInCodes struct {
	cfg SignInCodesConfig
}

// NewSignInCodes returns the sign-in code service.
func NewSignInCodes(cfg SignInCodesConfig) *SignInCodes { return &SignInCodes{cfg: cfg} }

// ErrNotBuilt marks contract stubs not yet implemented.
var errNotBuilt = errors.New("account: sign-in codes are not built yet")

// Issue makes a new code for the active account userID, replacing any
// earlier code of that account, and returns it (shown once) with its
// expiry. issuedBy is the administrator's account id.
func (c *SignInCodes) Issue(ctx context.Context, userID, issuedBy string) (code string, expires time.Time, err error) {
	return "", time.Time{}, errNotBuilt
}

// Redeem uses code once and returns its active account; a wrong, used or
// expired code gives ErrBadCredentials, too many failures from address
// ErrThrottled.
func (c *SignInCodes) Redeem(ctx context.Context, code, address string) (*User, error) {
	return nil, errNotBuilt
}
