package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account/totp"
	"github.com/smartgate/smartgate/store"
)

// Second factor: TOTP (RFC 6238) with recovery codes.
//
// A person enrols from their account page: Begin makes a secret and stores
// it unconfirmed, the authenticator app reads it (Enrolment.URI, usually as
// a QR code), and Confirm, given a current code, makes it count and returns
// the recovery codes, shown once. From then on Verify takes either a code
// from the app or an unused recovery code.

// Errors of SecondFactors besides ErrBadCredentials and ErrThrottled.
var (
	// ErrAlreadyEnrolled: Begin on an account with a confirmed second
	// factor (Disable it first).
	ErrAlreadyEnrolled = errors.New("account: a second factor is enrolled already")
	// ErrNotEnrolled: no confirmed second factor (RegenerateRecovery,
	// Disable), or no enrolment begun (Confirm).
	ErrNotEnrolled = errors.New("account: no second factor is enrolled")
)

// SecondFactor is an account's stored TOTP enrolment.
type SecondFactor struct {
	UserID string
	// Secret is the TOTP key. It is a credential: never logged, never shown
	// again after Begin.
	Secret []byte
	// Created is when Begin stored it; Confirmed when Confirm accepted a
	// code for it (zero: not confirmed yet, so it does not count).
	Created   time.Time
	Confirmed time.Time
	// LastStep is the last TOTP time step accepted (0: none); only later
	// steps are accepted (replay protection, RFC 6238 §5.2).
	LastStep uint64
}

// SecondFactorStore stores second factors and their recovery codes (as
// hashes). Every method that changes something does so atomically.
type SecondFactorStore interface {
	// SecondFactor returns the user's enrolment, confirmed or not, or
	// store.ErrNotFound.
	SecondFactor(ctx context.Context, userID string) (*SecondFactor, error)
	// BeginSecondFactor stores f unconfirmed (f.Confirmed and f.LastStep
	// are ignored), replacing an unconfirmed enrolment of f.UserID; it
	// returns store.ErrConflict, changing nothing, when a confirmed one
	// exists, and store.ErrNotFound when the user does not.
	BeginSecondFactor(ctx context.Context, f *SecondFactor) error
	// ConfirmSecondFactor confirms the user's unconfirmed enrolment whose
	// secret is secret, at time at, marks step as used and stores the
	// recovery code hashes. It returns store.ErrNotFound, changing nothing,
	// when there is no such unconfirmed enrolment (none, another secret, or
	// confirmed already).
	ConfirmSecondFactor(ctx context.Context, userID string, secret []byte, step uint64, at time.Time, recovery [][]byte) error
	// UseSecondFactorStep records step as used when the user's enrolment is
	// confirmed and its LastStep is before step, and reports whether it did
	// (false: a replay, or a concurrent use of the same or a later step).
	UseSecondFactorStep(ctx context.Context, userID string, step uint64) (bool, error)
	// RecoveryCodes returns the hashes of the user's unused recovery codes.
	RecoveryCodes(ctx context.Context, userID string) ([][]byte, error)
	// UseRecoveryCode deletes the user's recovery code with hash and reports
	// whether there was one (of concurrent calls, one at most sees true).
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error)
	// ReplaceRecoveryCodes replaces all of the user's recovery codes; it
	// returns store.ErrNotFound when the user has no confirmed enrolment.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	// DeleteSecondFactor deletes the user's enrolment and recovery codes;
	// store.ErrNotFound when there was none.
	DeleteSecondFactor(ctx context.Context, userID string) error
}

// SecondFactors enrols and verifies TOTP second factors. Store and
// Throttle are required; the other fields have defaults. A SecondFactors
// is safe for concurrent use; do not change its fields once in use.
type SecondFactors struct {
	Store SecondFactorStore
	// Throttle counts code checks like password checks (the same limits,
	// per account and per address); share the Authenticator's, so that an
	// address's password and code failures add up.
	Throttle *Throttle
	// Issuer names the service in authenticator apps (default "smartgate").
	Issuer string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Enrolment is what an authenticator app needs, shown once by Begin.
type Enrolment struct {
	// Secret is the key in base32 without padding, for typing in.
	Secret string
	// URI is the otpauth:// key URI, for a QR code.
	URI string
}

// The TOTP parameters smartgate enrols (those every app supports), and the
// accepted clock difference between server and device: one step either way
// (RFC 6238 §5.2).
var totpParams = totp.Params{}

const totpSkew = 1

// RecoveryCodeCount is how many recovery codes Confirm and
// RegenerateRecovery return.
const RecoveryCodeCount = 10

func (f *SecondFactors) now() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}

func (f *SecondFactors) issuer() string {
	if f.Issuer == "" {
		return "smartgate"
	}
	return f.Issuer
}

// Enrolled reports whether the user has a confirmed second factor.
func (f *SecondFactors) Enrolled(ctx context.Context, userID string) (bool, error) {
	sf, err := f.Store.SecondFactor(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("account: second factor: %w", err)
	}
	return !sf.Confirmed.IsZero(), nil
}

// Begin starts an enrolment for u: a new secret from crypto/rand, stored
// unconfirmed (it does not count until Confirm), replacing an unconfirmed
// one. It returns ErrAlreadyEnrolled when u has a confirmed second factor;
// that one is never replaced here.
func (f *SecondFactors) Begin(ctx context.Context, u *User) (Enrolment, error) {
	secret, err := totp.NewSecret()
	if err != nil {
		return Enrolment{}, fmt.Errorf("account: begin second factor: %w", err)
	}
	err = f.Store.BeginSecondFactor(ctx, &SecondFactor{UserID: u.ID, Secret: secret, Created: f.now()})
	if errors.Is(err, store.ErrConflict) {
		return Enrolment{}, ErrAlreadyEnrolled
	}
	if err != nil {
		return Enrolment{}, fmt.Errorf("account: begin second factor: %w", err)
	}
	return Enrolment{
		Secret: totp.EncodeSecret(secret),
		URI:    totp.URI(f.issuer(), u.UserName, secret, totpParams),
	}, nil
}

// Confirm completes the user's enrolment with a current code from the app
// and returns the RecoveryCodeCount recovery codes, to be shown once (only
// their hashes are kept). The code's step counts as used. It returns
// ErrBadCredentials for a wrong code and ErrNotEnrolled when no enrolment
// is waiting for confirmation.
func (f *SecondFactors) Confirm(ctx context.Context, userID, code string) ([]string, error) {
	sf, err := f.Store.SecondFactor(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sf.Confirmed.IsZero()) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("account: confirm second factor: %w", err)
	}
	digits, ok := totp.ParseCode(strings.TrimSpace(code), 6)
	if !ok {
		return nil, ErrBadCredentials
	}
	step, ok := totp.Match(sf.Secret, digits, f.now(), totpSkew, 0, totpParams)
	if !ok {
		return nil, ErrBadCredentials
	}
	codes, hashes, err := newRecoveryCodes(userID)
	if err != nil {
		return nil, err
	}
	err = f.Store.ConfirmSecondFactor(ctx, userID, sf.Secret, step, f.now(), hashes)
	if errors.Is(err, store.ErrNotFound) { // replaced or confirmed meanwhile
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("account: confirm second factor: %w", err)
	}
	return codes, nil
}

// Verify checks a second-factor code of the user with id userID, from
// address (reqctx.ClientAddress; may be empty): a TOTP code from the app
// (within one step of now, and of a later step than any accepted before)
// or an unused recovery code, which it consumes. Surrounding spaces are
// ignored. Like Authenticate, it counts the attempt with the throttle before
// it checks anything, per account (apart from its passwords) and per
// address. It returns nil, ErrThrottled, ErrBadCredentials (a wrong, reused
// or malformed code, or no confirmed second factor: counted as a failure),
// or another error for storage failures (not counted).
func (f *SecondFactors) Verify(ctx context.Context, userID, code, address string) error {
	if f.Throttle == nil {
		return errors.New("account: SecondFactors needs a Throttle")
	}
	return f.Throttle.guard(ctx, secondFactorKey(userID), address, func() error {
		return f.verify(ctx, userID, strings.TrimSpace(code))
	})
}

func (f *SecondFactors) verify(ctx context.Context, userID, code string) error {
	sf, err := f.Store.SecondFactor(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrBadCredentials
	}
	if err != nil {
		return fmt.Errorf("account: verify second factor: %w", err)
	}
	if sf.Confirmed.IsZero() {
		return ErrBadCredentials
	}
	if digits, ok := totp.ParseCode(code, 6); ok {
		step, ok := totp.Match(sf.Secret, digits, f.now(), totpSkew, sf.LastStep, totpParams)
		if !ok {
			return ErrBadCredentials
		}
		used, err := f.Store.UseSecondFactorStep(ctx, userID, step)
		if err != nil {
			return fmt.Errorf("account: verify second factor: %w", err)
		}
		if !used {
			return ErrBadCredentials
		}
		return nil
	}
	return f.useRecovery(ctx, userID, code)
}

// useRecovery consumes the user's recovery code code.
func (f *SecondFactors) useRecovery(ctx context.Context, userID, code string) error {
	norm, ok := ParseRecoveryCode(code)
	if !ok {
		return ErrBadCredentials
	}
	h := recoveryHash(userID, norm)
	hashes, err := f.Store.RecoveryCodes(ctx, userID)
	if err != nil {
		return fmt.Errorf("account: verify recovery code: %w", err)
	}
	found := 0
	for _, s := range hashes {
		found |= subtle.ConstantTimeCompare(s, h)
	}
	if found == 0 {
		return ErrBadCredentials
	}
	used, err := f.Store.UseRecoveryCode(ctx, userID, h)
	if err != nil {
		return fmt.Errorf("account: verify recovery code: %w", err)
	}
	if !used { // consumed by a concurrent Verify
		return ErrBadCredentials
	}
	return nil
}

// RecoveryCodesLeft is how many unused recovery codes the user has (for
// the account page: "3 recovery codes left"; 0 without a second factor).
func (f *SecondFactors) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	hashes, err := f.Store.RecoveryCodes(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("account: recovery codes: %w", err)
	}
	return len(hashes), nil
}

// RegenerateRecovery replaces the user's recovery codes with new ones
// (the old ones stop working) and returns them, to be shown once. It
// returns ErrNotEnrolled when the user has no confirmed second factor.
func (f *SecondFactors) RegenerateRecovery(ctx context.Context, userID string) ([]string, error) {
	codes, hashes, err := newRecoveryCodes(userID)
	if err != nil {
		return nil, err
	}
	err = f.Store.ReplaceRecoveryCodes(ctx, userID, hashes)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("account: regenerate recovery codes: %w", err)
	}
	return codes, nil
}

// Disable removes the user's second factor, confirmed or not, and its
// recovery codes. It returns ErrNotEnrolled when there was none.
func (f *SecondFactors) Disable(ctx context.Context, userID string) error {
	err := f.Store.DeleteSecondFactor(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("account: disable second factor: %w", err)
	}
	return nil
}
