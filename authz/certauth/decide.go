package certauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"

	jose "github.com/go-jose/go-jose/v4"
)

// AnonymousSubject is the anonymous account's subject (its principal's
// Subject and the actor of its audit records).
const AnonymousSubject = account.AnonymousUserName

// DefaultLeeway is the clock skew allowed on an ID token's exp and nbf.
const DefaultLeeway = 30 * time.Second

// TrustedIssuer is an OpenID provider other than this server whose ID
// tokens may name the person beside a trusted client certificate
// (config.TrustedJWTIssuer).
type TrustedIssuer struct {
	Issuer  string // the iss its ID tokens carry, compared exactly
	JWKSURI string
	// Audience is the aud its ID tokens carry for us; "" the
	// certificate's client id.
	Audience string
}

// LinkReader finds the local account an identity at a provider is linked
// to (account.Links; the identity links of the federation issue).
type LinkReader interface {
	LinkOf(ctx context.Context, issuer, subject string) (*account.Link, error)
}

// AccountReader reads an active account's current claims (authz.Accounts):
// store.ErrNotFound for one that is gone or deactivated.
type AccountReader interface {
	Claims(ctx context.Context, subject string) (authz.UserClaims, error)
}

// Options configure a Decider. Policy, ClientOfCertificate, Accounts and
// Anonymous are required; OwnKeys (with Issuers) and FetchJWKS (with
// Trusted) and Links as the ID tokens to verify need.
type Options struct {
	// Policy is --client-cert-policy (config.Config.CertPolicy).
	Policy clientcert.Policy
	// ClientOfCertificate is the RFC 8705 client of a trusted certificate
	// (authz.Server.ClientOfCertificate): an error wrapping
	// store.ErrNotFound when none.
	ClientOfCertificate func(ctx context.Context, cert *x509.Certificate, viaCA bool) (*authz.Client, error)
	// Issuers are this server's issuer identifiers (authz.Server.Issuers);
	// their ID tokens' sub is the local account id.
	Issuers []string
	// OwnKeys are the keys of this server's ID tokens
	// (authz.Server.IDTokenKeys).
	OwnKeys func(ctx context.Context, force bool) (*jose.JSONWebKeySet, error)
	// Trusted are the other issuers (the file's trusted_jwt_issuers).
	Trusted []TrustedIssuer
	// FetchJWKS fetches a trusted issuer's keys (authz.Server.FetchJWKS:
	// the jwks_uri rules of the rest of the server).
	FetchJWKS func(ctx context.Context, uri string, force bool) (*jose.JSONWebKeySet, error)
	// Links maps a trusted issuer's (iss, sub) to an account.
	Links LinkReader
	// Accounts loads the person's roles, fhirUser and whether the account
	// is active.
	Accounts AccountReader
	// Anonymous holds the anonymous account's scopes.
	Anonymous *Anonymous
	Logger    *slog.Logger
	Audit     audit.Recorder
	Now       func() time.Time
	// Leeway on exp and nbf (0: DefaultLeeway).
	Leeway time.Duration
}

// Kind is what a Decision does with a request.
type Kind string

// The kinds of Decision.
const (
	// Pass: the policy makes no difference; the endpoint's own
	// authentication (its bearer tokens) decides.
	Pass Kind = "pass"
	// Reject: 401 with Challenge.
	Reject Kind = "reject"
	// Limit: served as the anonymous account (Principal).
	Limit Kind = "limit"
	// CertClient: the certificate's client (Principal, Client).
	CertClient Kind = "cert-client"
	// JWTUser: the person of a verified ID token, through the
	// certificate's client (Principal, Client).
	JWTUser Kind = "jwt-user"
	// Unavailable: the store (or the anonymous scopes) cannot be read now
	// (503).
	Unavailable Kind = "unavailable"
)

// Decision is the answer for one request.
type Decision struct {
	Kind Kind
	// Case is the policy case the request fell under, "" for none (a
	// valid access token, a verified ID token).
	Case clientcert.Case
	// Principal is whom the request acts for (Limit, CertClient, JWTUser).
	Principal *access.Principal
	// Client is the certificate's client (CertClient, JWTUser).
	Client *authz.Client
	// Error is a Reject's RFC 6750 error code: invalid_request, or
	// invalid_token for bad_jwt.
	Error string
	// Detail says why, for the log, the audit record and the answer's
	// body; never a token.
	Detail string
}

// Challenge is a Reject's WWW-Authenticate value (RFC 6750 §3; its
// error_description a fixed text per case, Detail is for the body).
func (d Decision) Challenge() string {
	desc := map[clientcert.Case]string{
		clientcert.NoCertificate:      "a trusted client certificate is required",
		clientcert.UnknownCertificate: "the client certificate is not trusted",
		clientcert.NoJWT:              "an ID token naming the user is required beside the client certificate",
		clientcert.BadJWT:             "the bearer token is neither a valid access token nor a valid ID token",
	}[d.Case]
	if desc == "" {
		desc = "authentication required"
	}
	return fmt.Sprintf(`Bearer realm="smartgate", error="%s", error_description="%s"`, d.Error, desc)
}

// TokenCheck runs the endpoint's own check of the request's bearer token
// (fhir/bearer, scim/scimauth) and reports whether it refused the token as
// not a valid access token. It reports false when the token is valid or
// the check answered otherwise (forbidden, the store down): that answer
// then stands. Decide calls it at most once, and only for a bearer JWT
// beside a trusted certificate.
type TokenCheck func() (refused bool)

// Decider decides the secure interface's requests (see the package
// documentation).
type Decider struct {
	o Options
}

// New returns a Decider.
func New(o Options) (*Decider, error) {
	if o.Policy == nil || o.ClientOfCertificate == nil || o.Accounts == nil || o.Anonymous == nil {
		return nil, errors.New("certauth: Policy, ClientOfCertificate, Accounts and Anonymous are required")
	}
	if len(o.Issuers) > 0 && o.OwnKeys == nil {
		return nil, errors.New("certauth: Issuers need OwnKeys")
	}
	if len(o.Trusted) > 0 && (o.FetchJWKS == nil || o.Links == nil) {
		return nil, errors.New("certauth: trusted issuers need FetchJWKS and Links")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Leeway <= 0 {
		o.Leeway = DefaultLeeway
	}
	return &Decider{o: o}, nil
}

// Policy is the policy the Decider applies.
func (d *Decider) Policy() clientcert.Policy { return d.o.Policy }

// Applies reports whether the policy applies to r: a request through the
// HTTPS listener (listener.Info.Secure) to /fhir or /scim, but not
// /fhir/metadata or /fhir/.well-known/ (public, checklist A13).
func Applies(r *http.Request) bool {
	info, ok := listener.From(r.Context())
	if !ok || !info.Secure {
		return false
	}
	p := r.URL.Path
	switch {
	case p == "/fhir/metadata", strings.HasPrefix(p, "/fhir/.well-known/"):
		return false
	case p == "/fhir", strings.HasPrefix(p, "/fhir/"), p == "/scim", strings.HasPrefix(p, "/scim/"):
		return true
	}
	return false
}

// Decide decides r (a request Applies to; the adapters check). check is
// the endpoint's own token check (see TokenCheck). Reject, Limit,
// CertClient, JWTUser and every bad_jwt are audited; Reject and bad_jwt
// are logged too.
func (d *Decider) Decide(r *http.Request, check TokenCheck) Decision {
	dec := d.decide(r, check)
	d.record(r, dec)
	return dec
}

// badJWT is the Kind name of the audit record of a bad_jwt the policy
// allows (the endpoint then refuses the token itself).
const badJWT = "bad_jwt"

func (d *Decider) decide(r *http.Request, check TokenCheck) Decision {
	ctx := r.Context()
	peer := clientcert.From(ctx)
	present := r.Header.Get("Authorization") != ""
	if peer == nil || !peer.Trusted {
		c, why := clientcert.NoCertificate, "a trusted client certificate is required"
		if peer != nil {
			c, why = clientcert.UnknownCertificate, "the client certificate is not trusted"
			if peer.Problem != "" {
				why += ": " + peer.Problem
			}
		}
		switch d.o.Policy.For(c) {
		case clientcert.Reject:
			// The certificate is mandatory, whatever else the request
			// carries.
			return Decision{Kind: Reject, Case: c, Error: "invalid_request", Detail: why}
		case clientcert.Limit:
			if !present {
				dec := d.anonymous(ctx, c)
				dec.Detail = why
				return dec
			}
		}
		// A token without a trusted certificate: only an access token
		// counts, and a bad one is the endpoint's 401 invalid_token.
		return Decision{Kind: Pass, Case: c}
	}
	if !present {
		switch d.o.Policy.For(clientcert.NoJWT) {
		case clientcert.Reject:
			return Decision{Kind: Reject, Case: clientcert.NoJWT, Error: "invalid_request", Detail: "an ID token naming the user is required beside the client certificate"}
		case clientcert.Limit:
			return d.anonymous(ctx, clientcert.NoJWT)
		}
		c, err := d.client(ctx, peer)
		switch {
		case errors.Is(err, store.ErrUnavailable):
			return Decision{Kind: Unavailable, Detail: "client of the certificate: store unavailable"}
		case err != nil:
			// A trusted certificate of no registered client authenticates
			// nobody: the endpoint's usual 401.
			return Decision{Kind: Pass, Case: clientcert.NoJWT, Detail: err.Error()}
		}
		return Decision{Kind: CertClient, Client: c, Principal: clientPrincipal(c, peer)}
	}
	tok, ok := authz.BearerToken(r)
	if !ok || !isJWT(tok) {
		// Not a bearer JWT: no ID token, so a bad access token if
		// anything (always the endpoint's 401 invalid_token).
		return Decision{Kind: Pass}
	}
	if !check() {
		return Decision{Kind: Pass} // a valid access token decides
	}
	if accessTokenTyped(tok) {
		// An access token (RFC 9068 typ at+jwt) that its check refused:
		// a bad access token, never an ID token.
		return Decision{Kind: Pass}
	}
	dec, err := d.idToken(ctx, peer, tok)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return Decision{Kind: Unavailable, Detail: "ID token: store unavailable"}
	case err == nil:
		return dec
	}
	why := "the bearer token is neither a valid access token nor a valid ID token of a trusted issuer: " + err.Error()
	switch d.o.Policy.For(clientcert.BadJWT) {
	case clientcert.Reject:
		return Decision{Kind: Reject, Case: clientcert.BadJWT, Error: "invalid_token", Detail: why}
	case clientcert.Limit:
		dec := d.anonymous(ctx, clientcert.BadJWT)
		if dec.Kind == Limit {
			dec.Detail = why
		}
		return dec
	}
	return Decision{Kind: Pass, Case: clientcert.BadJWT, Detail: why}
}

// anonymous is the Limit decision of case c.
func (d *Decider) anonymous(ctx context.Context, c clientcert.Case) Decision {
	p, err := d.AnonymousPrincipal(ctx)
	if err != nil {
		return Decision{Kind: Unavailable, Case: c, Detail: "anonymous scopes: store unavailable"}
	}
	return Decision{Kind: Limit, Case: c, Principal: p}
}

// AnonymousPrincipal is the anonymous account's principal with its
// current scopes.
func (d *Decider) AnonymousPrincipal(ctx context.Context) (*access.Principal, error) {
	s, err := d.o.Anonymous.Scopes(ctx)
	if err != nil {
		return nil, err
	}
	scopes, _ := smart.ParseScopes(s)
	return &access.Principal{Anonymous: true, Subject: AnonymousSubject, Scopes: scopes}, nil
}

// client is the enabled registered client of a trusted certificate.
func (d *Decider) client(ctx context.Context, peer *clientcert.Peer) (*authz.Client, error) {
	c, err := d.o.ClientOfCertificate(ctx, peer.Cert, peer.ViaCA)
	switch {
	case err != nil:
		return nil, err
	case c == nil:
		return nil, fmt.Errorf("no client of the certificate: %w", store.ErrNotFound)
	case c.Disabled || c.Pending:
		return nil, fmt.Errorf("the certificate's client %s is disabled: %w", c.ID, store.ErrNotFound)
	}
	return c, nil
}

// clientPrincipal is the principal of a certificate's client: the shape of
// a client_credentials token of that client, with the scopes an
// administrator registered for it (those it may be granted now).
func clientPrincipal(c *authz.Client, peer *clientcert.Peer) *access.Principal {
	scopes, _ := smart.ParseScopes(strings.Join(c.GrantableScopes(), " "))
	return &access.Principal{System: true, ClientID: c.ID, Subject: c.ID, Scopes: scopes, CertThumbprint: peer.Thumbprint}
}

// personScopes are the client's scopes acting for a person: system/
// scopes as user/ (a person's token is never a backend service's), within
// the person's rights (their app ceiling).
func personScopes(c *authz.Client, uc authz.UserClaims) []string {
	var out []string
	for _, s := range c.GrantableScopes() {
		if rest, ok := strings.CutPrefix(s, "system/"); ok {
			s = "user/" + rest
		}
		out = append(out, s)
	}
	return smart.NarrowTo(out, account.Rights{Roles: uc.Roles, Ceiling: uc.Ceiling}.AppLimit())
}

// record audits dec (and logs a Reject or a bad_jwt); a Pass that fell
// under no case, and an Unavailable, are the endpoint's to record.
func (d *Decider) record(r *http.Request, dec Decision) {
	action := string(dec.Kind)
	outcome := audit.Success
	if p := clientcert.From(r.Context()); dec.Case == clientcert.UnknownCertificate && p != nil && dec.Kind != Reject {
		// Whatever the action, the log says why a certificate was not
		// trusted (a reject is logged below with its detail).
		d.o.Logger.WarnContext(r.Context(), "untrusted client certificate", "decision", action, "case", string(dec.Case),
			"path", r.URL.Path, "problem", p.Problem, "address", reqctx.ClientAddress(r))
	}
	switch {
	case dec.Kind == Reject:
		outcome = audit.Denied
	case dec.Kind == Pass && dec.Case == clientcert.BadJWT:
		action, outcome = badJWT, audit.Failure
	case dec.Kind == Pass, dec.Kind == Unavailable:
		return
	}
	if dec.Kind == Reject || dec.Case == clientcert.BadJWT {
		d.o.Logger.WarnContext(r.Context(), "client certificate policy", "decision", action, "case", string(dec.Case),
			"path", r.URL.Path, "detail", dec.Detail, "address", reqctx.ClientAddress(r))
	}
	if d.o.Audit == nil {
		return
	}
	ev := audit.Event{At: d.o.Now(), Kind: "certauth", Action: action, Outcome: outcome, Resource: r.URL.Path,
		Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())}
	detail := dec.Detail
	if dec.Case != "" {
		detail = string(dec.Case) + ": " + detail
	}
	ev.Detail = strings.TrimSuffix(detail, ": ")
	if p := dec.Principal; p != nil {
		ev.Actor, ev.ClientID, ev.Scopes = p.Subject, p.ClientID, p.Scopes.String()
	}
	if ev.ClientID == "" && dec.Client != nil {
		ev.ClientID = dec.Client.ID
	}
	d.o.Audit.Record(r.Context(), ev)
}

// isJWT reports whether tok has the shape of a compact JWS: three
// base64url parts, the last one empty for an unsigned (alg none) token.
func isJWT(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, part := range parts {
		if strings.ContainsFunc(part, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			return false
		}
	}
	return true
}

// accessTokenTyped reports whether tok's header says it is an access
// token (typ at+jwt, RFC 9068 §2.1), whatever its alg.
func accessTokenTyped(tok string) bool {
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Typ any `json:"typ"`
	}
	return json.Unmarshal(b, &h) == nil && isAccessTokenType(h.Typ)
}

func isAccessTokenType(v any) bool {
	s, _ := v.(string)
	s = strings.ToLower(s)
	return s == "at+jwt" || s == "application/at+jwt"
}

// allowedAlgs are the signature algorithms an ID token may use: the
// asymmetric ones only (never none, never HS*: a public key used as an
// HMAC secret is the algorithm confusion attack).
func allowedAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	}
}

// ownIssuer reports whether iss is one of this server's issuers.
func (d *Decider) ownIssuer(iss string) bool { return slices.Contains(d.o.Issuers, iss) }
