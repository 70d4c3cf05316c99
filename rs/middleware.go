package rs

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/authz/smart"
)

// Verifier checks an access token and returns what it says; an error
// about the token itself wraps ErrInvalidToken. JWKS and Introspection are
// Verifiers.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

// Options configure Middleware.
type Options struct {
	// Realm is the WWW-Authenticate realm; default "api".
	Realm string
	// Logger receives one line per refused token (never the token) and
	// per Verifier failure; default slog.Default().
	Logger *slog.Logger
	// Optional lets requests without a token through (FromContext then
	// reports none; RequireScope still refuses them). A token that is
	// there must verify.
	Optional bool
}

// Middleware verifies each request's bearer token with v and puts its
// Claims in the request's context (FromContext). A request without a
// token is 401 with a bare Bearer challenge (RFC 6750 §3.1); a token that
// does not verify, or a certificate-bound one over a connection that does
// not present its certificate (RFC 8705 §3), is 401 invalid_token; a
// Verifier that cannot reach the issuer's keys or introspection endpoint
// is 503.
func Middleware(v Verifier, opts Options) func(http.Handler) http.Handler {
	if opts.Realm == "" {
		opts.Realm = "api"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, present, ok := bearer(r)
			switch {
			case !ok:
				challenge(w, opts.Realm, http.StatusBadRequest, "invalid_request", "Send one access token, in the Authorization header as Bearer.", "")
				return
			case !present && opts.Optional:
				next.ServeHTTP(w, r)
				return
			case !present:
				challenge(w, opts.Realm, http.StatusUnauthorized, "", "An access token is needed.", "")
				return
			}
			c, err := v.Verify(r.Context(), token)
			if err == nil && c.CertThumbprint != "" && !presentsCertificate(r, c.CertThumbprint) {
				err = invalid("certificate-bound token without its certificate")
			}
			switch {
			case errors.Is(err, ErrInvalidToken):
				opts.Logger.InfoContext(r.Context(), "rs: token refused", "path", r.URL.Path, "err", err)
				challenge(w, opts.Realm, http.StatusUnauthorized, "invalid_token", "The access token is not valid.", "")
				return
			case err != nil:
				opts.Logger.ErrorContext(r.Context(), "rs: token not verified", "path", r.URL.Path, "err", err)
				writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The access token could not be checked; try again.")
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

// RequireScope admits a request only when its token (put there by
// Middleware) grants scope; others get 401 (no token) or 403
// insufficient_scope with the scope named (RFC 6750 §3.1). scope is a
// SMART scope such as "patient/Observation.rs" or "user/*.read", or any
// other scope token (RFC 6749 §3.3), which the token must then carry. It
// panics on a scope that does not parse (a programming error, as
// regexp.MustCompile does).
func RequireScope(scope string, opts Options) func(http.Handler) http.Handler {
	want, err := smart.ParseScope(scope)
	if err != nil {
		panic("rs: RequireScope: " + err.Error())
	}
	if opts.Realm == "" {
		opts.Realm = "api"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := FromContext(r.Context())
			switch {
			case !ok:
				challenge(w, opts.Realm, http.StatusUnauthorized, "", "An access token is needed.", "")
			case !c.Scopes.Contains(want):
				challenge(w, opts.Realm, http.StatusForbidden, "insufficient_scope", "The access token does not grant "+scope+".", scope)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// bearer returns the request's bearer token: present reports whether there
// is one; ok is false for a malformed Authorization header or a token also
// sent in the query or form (RFC 6750 §2: one method per request; this
// package reads only the header).
func bearer(r *http.Request) (token string, present, ok bool) {
	if r.URL.Query().Has("access_token") {
		return "", false, false
	}
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", false, true
	}
	if len(hs) > 1 {
		return "", false, false
	}
	scheme, tok, found := strings.Cut(hs[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, true // another scheme: no bearer token
	}
	tok = strings.TrimSpace(tok)
	if !found || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false, false
	}
	return tok, true, true
}

// presentsCertificate reports whether r came over TLS with the client
// certificate whose x5t#S256 is thumb.
func presentsCertificate(r *http.Request, thumb string) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(thumb)) == 1
}

// challenge writes an RFC 6750 §3 refusal: WWW-Authenticate with the
// realm, the error code (none for a request without a token) and, for
// insufficient_scope, the scope needed; and a JSON body.
func challenge(w http.ResponseWriter, realm string, status int, code, desc, scope string) {
	h := `Bearer realm="` + quote(realm) + `"`
	if code != "" {
		h += `, error="` + code + `", error_description="` + quote(desc) + `"`
	}
	if scope != "" {
		h += `, scope="` + quote(scope) + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	if code == "" {
		code = "unauthorized" // the body needs a code; the header has none (§3.1)
	}
	writeError(w, status, code, desc)
}

// quote keeps a quoted-string's content free of quotes and backslashes.
func quote(s string) string {
	return strings.NewReplacer(`"`, `'`, `\`, `/`).Replace(s)
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}
