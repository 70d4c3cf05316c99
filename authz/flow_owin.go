package authz

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/listener"
)

// grantPassword is the grant_type of the OWin password grant.
const grantPassword = "password"

// owinRetryAfter is the Retry-After of a throttled password grant, in
// seconds: the log-in lockout (account.DefaultLockout).
const owinRetryAfter = "900"

// owinLockedDescription answers a throttled password or second-factor
// check.
const owinLockedDescription = "Too many failed attempts; try again later."

// owinScopes are the scopes an OWin token gets for a role, read from the
// one table of role ceilings (account.RoleCeiling): an OWin token carries
// its account's rights. It has no launch, so each role acts in its own
// context: a patient in the patient context (set from their fhirUser: the
// patient/ scopes, and none without a linked record), every other role
// outside it (its user/ and system/ scopes). Only data scopes: an
// administrator's OWin token calls SCIM by its role (scim/scimauth), not
// by the scim scope of the table.
func owinScopes(role string, patientContext bool) []string {
	var out []string
	for _, sc := range account.RoleCeiling(role) {
		if !strings.Contains(sc, "/") {
			continue
		}
		if strings.HasPrefix(sc, "patient/") == (role == account.RolePatient) &&
			(role != account.RolePatient || patientContext) {
			out = append(out, sc)
		}
	}
	return out
}

// owinConfig is all of the server's configuration the OWin grant reads.
type owinConfig struct {
	// Enabled turns the grant on (Config.OWin).
	Enabled bool
	// OffListeners are the listeners it is off on (Config.OWinOffListeners).
	OffListeners []string
	// AccessTokenTTL is the lifetime of its tokens (Config.AccessTokenTTL).
	AccessTokenTTL time.Duration
	// Now is the clock.
	Now func() time.Time
}

// owinGrantHandler is the OWin password grant in fosite's token endpoint
// chain (RFC 6749 §4.3, shaped like fosite's
// ResourceOwnerPasswordCredentialsGrantHandler): form grant_type=password
// with username and password and no client; local accounts only; the
// answer is exactly access_token, expires_in and token_type, with no
// refresh token. ROPC is not offered to registered (SMART) clients (RFC
// 9700 §2.4): a request that names or authenticates one is refused
// before anything is checked (skipClientAuthForOWin keeps fosite from
// authenticating it).
//
// An account with a confirmed second factor, or one that must have one
// (SecondFactor decides, by the pages' rule), must also send its code, a
// TOTP or a recovery code, in otp; it is checked after the password and
// throttled with it (a throttled code is answered like a throttled
// password).
//
// The Users authenticator throttles (the one log-in throttle of package
// account, shared with the log-in page: the attempt is counted before the
// password is checked, per account and per client address); its lockout
// is answered 400 invalid_grant with Retry-After, like a wrong password
// but with its own description. Every outcome is audited (kind "owin") by
// the token endpoint from the refusal each error carries.
type owinGrantHandler struct {
	Config owinConfig
	Users  PasswordAuthenticator // nil: the grant is off
	// SecondFactor asks for the second factor after the password (nil:
	// none).
	SecondFactor SecondFactorChecker
	// Client is the client that OWin tokens carry (owinClientID).
	Client fosite.Client
	// AccessTokenStrategy and AccessTokenStorage issue and store the token.
	AccessTokenStrategy oauth2.AccessTokenStrategy
	AccessTokenStorage  oauth2.AccessTokenStorage
	Logger              *slog.Logger
}

var _ fosite.TokenEndpointHandler = (*owinGrantHandler)(nil)

// CanHandleTokenEndpointRequest: grant_type=password.
func (h *owinGrantHandler) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(grantPassword)
}

// CanSkipClientAuth: OWin takes no client authentication.
func (h *owinGrantHandler) CanSkipClientAuth(ctx context.Context, ar fosite.AccessRequester) bool {
	return h.CanHandleTokenEndpointRequest(ctx, ar)
}

// HandleTokenEndpointRequest checks that the grant is on here, that no
// client is named, and the password; it fills in the session (the
// account, its role scopes, a patient's context) and deletes the password
// and the second-factor code from the form before anything can persist
// them.
func (h *owinGrantHandler) HandleTokenEndpointRequest(ctx context.Context, requester fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, requester) {
		return fosite.ErrUnknownRequest
	}
	ar, ok := requester.(*fosite.AccessRequest)
	r, rok := ctx.Value(fosite.RequestContextKey).(*http.Request)
	sess, sok := requester.GetSession().(*Session)
	if !ok || !rok || !sok {
		return fosite.ErrServerError.WithDebugf("owin: unexpected request %T, %T", requester, requester.GetSession())
	}
	ar.Client = h.Client
	form := ar.GetRequestForm()
	username, password, otp := form.Get("username"), form.Get("password"), form.Get(owinSecondFactorParam)
	// Credentials must not be passed around, nor reach the database.
	delete(form, "password")
	delete(form, owinSecondFactorParam)
	deny := func(e *fosite.RFC6749Error, rf refusal, desc string) error {
		rf.actor = username
		return owinError(e, desc, &rf)
	}
	if !h.enabled(ctx) {
		return deny(fosite.ErrUnsupportedGrantType, refusal{outcome: audit.Denied, detail: "disabled"},
			"The password grant is disabled.")
	}
	if namesClient(r, form) {
		return deny(fosite.ErrUnauthorizedClient, refusal{outcome: audit.Denied, detail: "client present"},
			"The password grant is only for OWin use, without a client.")
	}
	if username == "" || password == "" {
		return deny(fosite.ErrInvalidRequest, refusal{outcome: audit.Failure, detail: "missing credentials"},
			"username and password are required.")
	}
	uc, err := h.Users.Authenticate(ctx, username, password, reqctx.ClientAddress(r))
	switch {
	case err == nil:
	case errors.Is(err, ErrInvalidCredentials):
		return deny(fosite.ErrInvalidGrant, refusal{outcome: audit.Failure, detail: "bad credentials"},
			"The username or password is wrong.")
	case errors.Is(err, ErrAccountLocked):
		return deny(fosite.ErrInvalidGrant, refusal{outcome: audit.Denied, detail: "locked", retryAfter: owinRetryAfter},
			owinLockedDescription)
	default:
		// The caller went away, or the store failed: not the person's fault,
		// so nothing is counted against the account or the address.
		if ctx.Err() == nil {
			h.Logger.ErrorContext(ctx, "owin authenticate", "err", err)
		}
		return deny(fosite.ErrTemporarilyUnavailable, refusal{outcome: audit.Failure, detail: "unavailable", retryAfter: "5"},
			"The password could not be checked now; try again.")
	}
	if d := h.checkSecondFactor(ctx, uc.Subject, otp, reqctx.ClientAddress(r)); d != nil {
		return deny(d.err, d.rf, d.desc)
	}
	h.grant(ar, sess, uc)
	return nil
}

// enabled reports whether the grant is on for the request's listener.
func (h *owinGrantHandler) enabled(ctx context.Context) bool {
	if !h.Config.Enabled || h.Users == nil {
		return false
	}
	info, ok := listener.From(ctx)
	return !ok || !slices.Contains(h.Config.OffListeners, info.Name)
}

// namesClient reports whether a token request names or authenticates a
// client other than OWin's own id.
func namesClient(r *http.Request, form url.Values) bool {
	get := form.Get
	id, _, _ := r.BasicAuth()
	return (id != "" && id != owinClientID) || get("client_assertion") != "" ||
		(get("client_id") != "" && get("client_id") != owinClientID)
}

// grant fills in the session and the scopes of an authenticated account.
// The scope and audience parameters are ignored: an OWin token carries
// its account's rights, for the FHIR bases: the scopes of its effective
// roles (owinScopes) within its ceiling (smart.NarrowTo), and those roles.
func (h *owinGrantHandler) grant(ar *fosite.AccessRequest, sess *Session, uc UserClaims) {
	now := h.Config.Now().UTC()
	sess.Subject = uc.Subject
	sess.Username = uc.Username
	sess.FHIRUser = uc.FHIRUser
	sess.Roles = uc.Roles
	sess.Grant = grantPassword
	sess.SetExpiresAt(fosite.AccessToken, now.Add(h.Config.AccessTokenTTL).Round(0))
	ar.RequestedAt = now
	ar.RequestedScope = fosite.Arguments{}
	ar.RequestedAudience = fosite.Arguments{}
	ar.GrantedScope = fosite.Arguments{}
	// An account with no role counts as a patient (account.MayActForOthers).
	roles := account.EffectiveRoles(uc.Roles)
	pid, linked := account.PatientOf(uc.FHIRUser)
	patientContext := linked && slices.Contains(roles, account.RolePatient)
	if patientContext {
		sess.Launch = &LaunchContext{Patient: pid}
	}
	var scopes []string
	for _, role := range roles {
		scopes = append(scopes, owinScopes(role, patientContext)...)
	}
	for _, sc := range smart.NarrowTo(scopes, uc.ceiling()) {
		ar.GrantScope(sc)
	}
}

// PopulateTokenEndpointResponse issues and stores the access token; the
// answer carries access_token, token_type and expires_in only.
func (h *owinGrantHandler) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	tok, sig, err := h.AccessTokenStrategy.GenerateAccessToken(ctx, ar)
	if err == nil {
		err = h.AccessTokenStorage.CreateAccessTokenSession(ctx, sig, ar.Sanitize(nil))
	}
	if err != nil {
		sess, _ := ar.GetSession().(*Session)
		actor := ""
		if sess != nil {
			actor = sess.Username
		}
		return owinError(fosite.ErrServerError, "The token could not be issued.",
			&refusal{outcome: audit.Failure, detail: "server error", actor: actor, err: err})
	}
	resp.SetAccessToken(tok)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(h.Config.AccessTokenTTL)
	return nil
}

// owinError is e answered with desc as its whole description (no hint of
// fosite's), caused by rf.
func owinError(e *fosite.RFC6749Error, desc string, rf *refusal) error {
	out := *e.WithDescription(desc)
	out.HintField = ""
	return out.WithWrap(rf)
}

// skipClientAuthForOWin wraps the token endpoint's client authentication:
// a password-grant request is not authenticated at all (OWin takes no
// client, and owinGrantHandler refuses a request that names one), so no
// secret is checked and no client assertion's jti is spent for it.
func skipClientAuthForOWin(next fosite.ClientAuthenticationStrategy) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		if form.Get("grant_type") == grantPassword {
			return nil, fosite.ErrInvalidClient.WithHint("The password grant takes no client authentication.")
		}
		return next(ctx, r, form)
	}
}
