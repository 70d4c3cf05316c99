// Package bearer authenticates FHIR requests by their OAuth bearer access
// token (RFC 6750) and turns the token's SMART scopes and context into the
// access decisions of package fhir, using the rules of package fhir/access.
//
// Verified tokens are cached by the SHA-256 of the token until they expire,
// but never longer than Options.Revalidate (default 5 s): a token revoked
// at the authorization server stops working on the FHIR endpoint within that
// bound, while a busy app does not pay a signature check and a store lookup
// on every request; ForgetSubject ends that trust at once for one account.
// Nothing else about the token is kept.
package bearer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

// Verifier checks an access token and says whom it speaks for and until
// when. It returns ErrInactive (wrapped) for a token that must be refused,
// and an error wrapping store.ErrUnavailable when it cannot tell now.
type Verifier interface {
	Verify(ctx context.Context, token string) (*access.Principal, time.Time, error)
}

// ErrInactive marks a token that is unknown, expired, revoked, or not meant
// for this FHIR endpoint.
var ErrInactive = errors.New("bearer: inactive token")

// Options tune an Authenticator.
type Options struct {
	// Revalidate bounds how long a verified token is trusted without asking
	// the Verifier again (0: 5s; negative: not at all, for a Verifier that
	// keeps its own bounded cache, as introspection does).
	Revalidate time.Duration
	// MaxEntries bounds the cache (default 10000).
	MaxEntries int
	// Audiences are the FHIR base URLs this endpoint answers under (one
	// per listener). When set, a token whose aud names none of them is
	// refused as invalid_token (RFC 9700 §2.3; checklist S7). Tokens
	// issued for one listener's base are accepted on the others: they are
	// one resource server.
	Audiences []string
	Now       func() time.Time
	Logger    *slog.Logger
}

// Authenticator implements fhir.Authenticator.
type Authenticator struct {
	v    Verifier
	reg  *search.Registry
	opts Options

	mu    sync.Mutex
	cache map[[32]byte]cached
	// forgets counts ForgetSubject calls: a verification that began
	// before one is not cached (it may predate the revocation).
	forgets uint64
}

type cached struct {
	p     *access.Principal
	until time.Time
}

var (
	_ fhir.Authenticator    = (*Authenticator)(nil)
	_ fhir.WholeTypeReacher = (*principal)(nil)
	_ fhir.RefusalExplainer = (*principal)(nil)
)

// New returns an Authenticator over v; reg evaluates granular scopes.
func New(v Verifier, reg *search.Registry, opts Options) *Authenticator {
	if opts.Revalidate == 0 {
		opts.Revalidate = 5 * time.Second
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{v: v, reg: reg, opts: opts, cache: map[[32]byte]cached{}}
}

// Token returns the bearer token of r: ok is false when there is no
// Authorization header; err is set when there is one that is not a
// well-formed bearer token.
func Token(r *http.Request) (token string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, tok, found := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", true, errors.New("not a bearer token")
	}
	return tok, true, nil
}

// Authenticate implements fhir.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (fhir.Principal, error) {
	tok, present, err := Token(r)
	if !present {
		return nil, fhir.ErrNoToken
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", fhir.ErrInvalidToken, err)
	}
	p, err := a.principal(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	// A certificate-bound token (RFC 8705 §3) only over a connection that
	// presents its certificate: checked on every request, cached or not.
	if !clientcert.BoundMatches(r.Context(), p.CertThumbprint) {
		a.opts.Logger.WarnContext(r.Context(), "fhir: certificate-bound access token without its certificate",
			"client_id", p.ClientID, "certificate_presented", clientcert.From(r.Context()) != nil)
		return nil, fmt.Errorf("%w: certificate-bound token without its certificate", fhir.ErrInvalidToken)
	}
	return &principal{p: p, reg: a.reg, now: a.opts.Now}, nil
}

// Verify checks tok as Authenticate checks a request's bearer token
// (signature or store, expiry, revocation, audience) and returns whom it
// speaks for; the error wraps fhir.ErrInvalidToken or store.ErrUnavailable.
// A certificate-bound token (Principal.CertThumbprint) is accepted on the
// endpoint only with its certificate, which Verify cannot check.
func (a *Authenticator) Verify(ctx context.Context, tok string) (*access.Principal, error) {
	return a.principal(ctx, tok)
}

func (a *Authenticator) principal(ctx context.Context, tok string) (*access.Principal, error) {
	key := sha256.Sum256([]byte(tok))
	now := a.opts.Now()
	a.mu.Lock()
	c, ok := a.cache[key]
	forgets := a.forgets
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.p, nil
	}
	p, exp, err := a.v.Verify(ctx, tok)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", fhir.ErrInvalidToken, err)
	}
	if !now.Before(exp) {
		return nil, fmt.Errorf("%w: expired", fhir.ErrInvalidToken)
	}
	if !a.audienceOK(p.Audience) {
		return nil, fmt.Errorf("%w: audience is not this FHIR endpoint", fhir.ErrInvalidToken)
	}
	if a.opts.Revalidate < 0 {
		return p, nil
	}
	until := now.Add(a.opts.Revalidate)
	if exp.Before(until) {
		until = exp
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.forgets != forgets {
		return p, nil // answered, but not trusted for later requests
	}
	if len(a.cache) >= a.opts.MaxEntries {
		for k, v := range a.cache {
			if !now.Before(v.until) || len(a.cache) >= a.opts.MaxEntries {
				delete(a.cache, k)
			}
			if len(a.cache) < a.opts.MaxEntries*3/4 {
				break
			}
		}
	}
	a.cache[key] = cached{p: p, until: until}
	return p, nil
}

// ForgetSubject drops every cached verification of tokens that speak for
// the account subject (not a client's own tokens), so that the next
// request with one asks the Verifier again: call it when the account is
// deactivated or deleted, or its tokens revoked, so that they are refused
// at once rather than within Options.Revalidate.
func (a *Authenticator) ForgetSubject(subject string) {
	if subject == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgets++
	for k, c := range a.cache {
		if !c.p.System && c.p.Subject == subject {
			delete(a.cache, k)
		}
	}
}

// audienceOK reports whether aud names one of Options.Audiences (compared
// without a trailing slash); true when no audiences are configured.
func (a *Authenticator) audienceOK(aud []string) bool {
	if len(a.opts.Audiences) == 0 {
		return true
	}
	for _, x := range aud {
		for _, y := range a.opts.Audiences {
			if strings.TrimRight(x, "/") == strings.TrimRight(y, "/") {
				return true
			}
		}
	}
	return false
}

// principal implements fhir.Principal for one verified token.
type principal struct {
	p   *access.Principal
	reg *search.Registry
	now func() time.Time

	mu      sync.Mutex
	refused refusal
}

func permission(in fhir.Interaction) smart.Permissions {
	switch in {
	case fhir.InteractionCreate:
		return smart.Create
	case fhir.InteractionRead, fhir.InteractionVRead, fhir.InteractionHistoryInstance:
		return smart.Read
	case fhir.InteractionUpdate:
		return smart.Update
	case fhir.InteractionDelete:
		return smart.Delete
	case fhir.InteractionSearchType, fhir.InteractionHistoryType, fhir.InteractionHistorySystem:
		return smart.Search
	}
	return 0
}

// Authorize implements fhir.Principal.
func (pr *principal) Authorize(ctx context.Context, req fhir.AccessRequest) error {
	_, err := pr.authorize(ctx, req, false)
	if err != nil {
		pr.remember(refusal{set: true, req: req})
	}
	return err
}

// authorize is Authorize; with explain it also returns how it decided
// (the same code, recording its steps: access.DecideExplained).
func (pr *principal) authorize(ctx context.Context, req fhir.AccessRequest, explain bool) (*access.Explanation, error) {
	var g access.Grant
	var e *access.Explanation
	if explain {
		g, e = access.DecideExplained(pr.p, permission(req.Interaction), req.Type)
	} else {
		g = access.Decide(pr.p, permission(req.Interaction), req.Type)
	}
	if !g.Allowed {
		return e, fhir.ErrInsufficientScope
	}
	write := isWrite(req.Interaction)
	if req.Resource == nil {
		switch {
		case req.ID == "":
			// Type level: a compartment-limited grant cannot write a type
			// without an owner element (access.OwnerElement).
			if write && !g.WritesType(req.Type) {
				e.Refuse(access.CheckOwner, "every scope is confined to a patient's compartment and "+req.Type+
					" has no owner element: it cannot be written through such a scope")
				return e, fhir.ErrInsufficientScope
			}
			return e, nil
		case g.Unrestricted:
			return e, nil
		}
		// No content to decide on (the endpoint passes a deleted
		// resource's last content): only an unrestricted grant reaches it.
		e.Refuse(access.CheckResource, "no content to decide on (a deleted resource): only a grant on every resource of the type reaches it")
		return e, fhir.ErrHidden
	}
	doc := lazyDoc{raw: req.Resource}
	res := access.Resource{Patients: req.Patients, Matches: func(q []smart.Param) bool {
		vals := url.Values{}
		for _, p := range q {
			vals.Add(p.Name, p.Value)
		}
		query, err := pr.reg.ParseQuery(req.Type, vals, false)
		if err != nil {
			return false
		}
		decoded, err := doc.get()
		if err != nil {
			return false
		}
		ok, err := pr.reg.Matches(query, decoded, req.Resource, pr.now())
		return err == nil && ok
	}}
	if !write {
		if g.AdmitsExplained(res, e) {
			return e, nil
		}
		return e, fhir.ErrHidden
	}
	if !g.Unrestricted {
		if decoded, err := doc.get(); err == nil {
			res.Owners, res.Owned = access.Owners(req.Type, decoded)
		}
	}
	switch {
	case g.AdmitsWriteExplained(res, e):
		return e, nil
	case req.Incoming || req.Interaction == fhir.InteractionCreate || g.Admits(res):
		// Writing data the token may not hold (creating it in, or moving
		// it into, another patient's record, compartment or category), or
		// changing stored content the token reaches but that is not the
		// context patient's record: refused, nothing stored is hidden.
		return e, fhir.ErrInsufficientScope
	}
	return e, fhir.ErrHidden
}

// refusal is the last decision a principal refused, to be explained if
// the request ends refused (fhir.RefusalExplainer).
type refusal struct {
	set      bool
	restrict bool // Restrict(in, typ) rather than Authorize(req)
	in       fhir.Interaction
	typ      string
	req      fhir.AccessRequest
}

func (pr *principal) remember(r refusal) {
	pr.mu.Lock()
	pr.refused = r
	pr.mu.Unlock()
}

// ExplainRefusal implements fhir.RefusalExplainer: it runs the last
// refused decision again, recording its steps, and returns them as JSON
// (access.Explanation.JSON); "" when nothing was refused.
func (pr *principal) ExplainRefusal(ctx context.Context) string {
	pr.mu.Lock()
	r := pr.refused
	pr.mu.Unlock()
	if !r.set {
		return ""
	}
	var e *access.Explanation
	if r.restrict {
		_, e = access.DecideExplained(pr.p, permission(r.in), restrictType(r.typ))
	} else {
		e, _ = pr.authorize(ctx, r.req, true)
	}
	return e.JSON()
}

// Explain decides req for p as the FHIR endpoint does for a verified
// token, and says how: the explanation and the error Authorize returns
// (nil, fhir.ErrInsufficientScope or fhir.ErrHidden). A type-level search
// or history is explained as Restrict decides it.
func (a *Authenticator) Explain(ctx context.Context, p *access.Principal, req fhir.AccessRequest) (*access.Explanation, error) {
	pr := &principal{p: p, reg: a.reg, now: a.opts.Now}
	if req.ID == "" && req.Resource == nil && permission(req.Interaction) == smart.Search {
		g, e := access.DecideExplained(p, smart.Search, restrictType(req.Type))
		if !g.Allowed {
			return e, fhir.ErrInsufficientScope
		}
		return e, nil
	}
	return pr.authorize(ctx, req, true)
}

func restrictType(typ string) string {
	if typ == "" {
		return "*"
	}
	return typ
}

func isWrite(in fhir.Interaction) bool {
	switch in {
	case fhir.InteractionCreate, fhir.InteractionUpdate, fhir.InteractionDelete:
		return true
	}
	return false
}

// lazyDoc decodes a resource's JSON once, when first needed.
type lazyDoc struct {
	raw     []byte
	decoded map[string]any
	err     error
	done    bool
}

func (d *lazyDoc) get() (map[string]any, error) {
	if !d.done {
		d.decoded, d.err = search.Decode(d.raw)
		d.done = true
	}
	return d.decoded, d.err
}

// ReachesAll implements fhir.WholeTypeReacher: true when some scope grants
// the interaction on every resource of typ (no compartment or query limit).
func (pr *principal) ReachesAll(ctx context.Context, in fhir.Interaction, typ string) bool {
	g := access.Decide(pr.p, permission(in), typ)
	return g.Allowed && g.Unrestricted
}

// Administrator implements fhir.Administrator: an account with the admin
// role (whatever the token's scopes), or an administrator's OWin token.
func (pr *principal) Administrator() bool {
	return pr.p.Unrestricted || pr.p.HasRole(account.RoleAdmin)
}

// AuditFields implements fhir.AuditSubject: who the token speaks for, the
// client, the patient in context and the granted scopes (never the token).
func (pr *principal) AuditFields() (actor, clientID, patient, scopes string) {
	p := pr.p
	patient = p.Patient
	if patient == "" {
		patient = p.OwnPatient()
	}
	return p.Subject, p.ClientID, patient, p.Scopes.String()
}

// Restrict implements fhir.Principal. When the grant's reach cannot be
// written as "one of these patients AND one of these queries" exactly (a
// rare mix of compartment-limited and query-limited scopes for one type),
// it returns the compartment-limited part only: less than granted, never
// more.
func (pr *principal) Restrict(ctx context.Context, in fhir.Interaction, typ string) (fhir.Restriction, error) {
	typ = restrictType(typ)
	g := access.Decide(pr.p, permission(in), typ)
	if !g.Allowed {
		pr.remember(refusal{set: true, restrict: true, in: in, typ: typ})
		return fhir.Restriction{}, fhir.ErrInsufficientScope
	}
	if g.Unrestricted {
		return fhir.Restriction{}, nil
	}
	var limited, open []access.Scope
	for _, s := range g.Scopes {
		if s.Patient != "" {
			limited = append(limited, s)
		} else {
			open = append(open, s)
		}
	}
	var r fhir.Restriction
	switch {
	case len(limited) == 0 && len(open) == 0:
		r.Patients = []string{}
	case len(limited) == 0:
		r.AnyOf = queries(open)
	default:
		// Every scope is compartment-limited (or the mix is cut down to
		// the limited ones). With one patient, patient AND any-of-queries is
		// exact; with several, keep the first patient's scopes only.
		first := limited[0].Patient
		var same []access.Scope
		for _, s := range limited {
			if s.Patient == first {
				same = append(same, s)
			}
		}
		r.Patients = []string{first}
		unfiltered := false
		for _, s := range same {
			if s.Query == nil {
				unfiltered = true
			}
		}
		if !unfiltered {
			r.AnyOf = queries(same)
		}
	}
	return r, nil
}

func queries(ss []access.Scope) []url.Values {
	out := make([]url.Values, 0, len(ss))
	for _, s := range ss {
		v := url.Values{}
		for _, p := range s.Query {
			v.Add(p.Name, p.Value)
		}
		out = append(out, v)
	}
	return out
}

// Principal is the fhir.Principal of p, decided by the same rules as a
// verified token's (package fhir/access): for callers that authenticated
// a request another way (authz/certauth: a client certificate, an ID
// token, the anonymous account).
func (a *Authenticator) Principal(p *access.Principal) fhir.Principal {
	return &principal{p: p, reg: a.reg, now: a.opts.Now}
}
