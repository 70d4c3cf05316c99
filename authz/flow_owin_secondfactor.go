package authz

import (
	"context"
	"errors"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/audit"
)

// SecondFactorNeed is what an account needs of a second factor.
type SecondFactorNeed int

const (
	// SecondFactorNone: neither enrolled nor required; the password is
	// enough.
	SecondFactorNone SecondFactorNeed = iota
	// SecondFactorEnrolled: the account has a confirmed second factor; its
	// code is asked after the password.
	SecondFactorEnrolled
	// SecondFactorMissing: a second factor is required of the account but
	// none is enrolled; it is refused until the person enrols one.
	SecondFactorMissing
)

// SecondFactorChecker is the second factor of local accounts as the OWin
// grant needs it: the same enrolments, rule (who must have one) and
// throttle as the log-in pages.
type SecondFactorChecker interface {
	// SecondFactorNeed reports what the account with the given subject
	// needs of a second factor.
	SecondFactorNeed(ctx context.Context, subject string) (SecondFactorNeed, error)
	// VerifySecondFactor checks a code (TOTP or recovery code) of the
	// account from address (reqctx.ClientAddress), throttled like the
	// password (counted before it is checked). It returns nil,
	// ErrInvalidCredentials (wrong, reused or malformed), ErrAccountLocked
	// (throttled), or another error when it could not check.
	VerifySecondFactor(ctx context.Context, subject, code, address string) error
}

// owinSecondFactorParam is the form parameter of the OWin grant that
// carries the second-factor code.
const owinSecondFactorParam = "otp"

// owinDenial is a refusal of the OWin grant: the error answered, its
// description, and what is audited.
type owinDenial struct {
	err  *fosite.RFC6749Error
	desc string
	rf   refusal
}

// checkSecondFactor asks the authenticated account's second factor, when
// it has one or must have one, of otp; nil: the grant may go on.
func (h *owinGrantHandler) checkSecondFactor(ctx context.Context, subject, otp, address string) *owinDenial {
	if h.SecondFactor == nil {
		return nil
	}
	need, err := h.SecondFactor.SecondFactorNeed(ctx, subject)
	if err != nil {
		return h.secondFactorUnavailable(ctx, err)
	}
	switch need {
	case SecondFactorNone:
		return nil
	case SecondFactorMissing:
		return &owinDenial{fosite.ErrInvalidGrant,
			"This account must use a second factor and has none: enrol one at /account/security or /login first, then send its code in the otp parameter.",
			refusal{outcome: audit.Denied, detail: "second factor not enrolled"}}
	}
	if otp == "" {
		return &owinDenial{fosite.ErrInvalidGrant,
			"This account uses a second factor: send its code (or a recovery code) in the otp parameter.",
			refusal{outcome: audit.Failure, detail: "second factor missing"}}
	}
	switch err := h.SecondFactor.VerifySecondFactor(ctx, subject, otp, address); {
	case err == nil:
		return nil
	case errors.Is(err, ErrInvalidCredentials):
		return &owinDenial{fosite.ErrInvalidGrant, "The second-factor code is wrong.",
			refusal{outcome: audit.Failure, detail: "bad second factor"}}
	case errors.Is(err, ErrAccountLocked):
		return &owinDenial{fosite.ErrInvalidGrant, owinLockedDescription,
			refusal{outcome: audit.Denied, detail: "locked", retryAfter: owinRetryAfter}}
	default:
		return h.secondFactorUnavailable(ctx, err)
	}
}

// secondFactorUnavailable answers a second factor that could not be
// checked (the caller went away, or the store failed).
func (h *owinGrantHandler) secondFactorUnavailable(ctx context.Context, err error) *owinDenial {
	if ctx.Err() == nil {
		h.Logger.ErrorContext(ctx, "owin second factor", "err", err)
	}
	return &owinDenial{fosite.ErrTemporarilyUnavailable, "The second factor could not be checked now; try again.",
		refusal{outcome: audit.Failure, detail: "unavailable", retryAfter: "5"}}
}
