package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/smartgate/smartgate/listener"
)

const maxFormBytes = 64 << 10

// handleAuthorize is the authorization endpoint (GET and POST). Requests
// that fail before the client and redirect URI are established get a JSON
// 400 and are never redirected.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	base := listener.BaseURL(r)
	ctx := withIssuer(r.Context(), base)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request is not a valid form.")
		return
	}
	// Only the query response mode: errors must never become an HTML
	// form_post page or a fragment.
	badMode := false
	if rm := r.Form.Get("response_mode"); rm != "" && rm != "query" {
		r.Form.Del("response_mode")
		badMode = true
	}
	s.dropDisallowedScopes(ctx, r.Form)
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err == nil && badMode {
		err = fosite.ErrUnsupportedResponseMode.WithHint("Only response_mode=query is supported.")
	}
	if err != nil {
		s.writeAuthorizeError(ctx, w, ar, err)
		return
	}
	aud, launch, err := s.checkAuthorize(ctx, ar)
	if err != nil {
		s.writeAuthorizeError(ctx, w, ar, err)
		return
	}
	fc := ar.GetClient().(*fositeClient)
	form := ar.GetRequestForm()
	areq := &AuthorizeRequest{
		ID:          requestID(fc.c.ID, form),
		ResumeURL:   base + "/oauth/authorize?" + form.Encode(),
		ClientID:    fc.c.ID,
		ClientName:  fc.c.Name,
		LogoURI:     httpsOrEmpty(fc.c.LogoURI),
		ClientURI:   httpsOrEmpty(fc.c.ClientURI),
		RedirectURI: ar.GetRedirectURI().String(),
		Scopes:      []string(ar.GetRequestedScopes()),
		Aud:         aud,
		Prompt:      strings.Fields(form.Get("prompt")),
		MaxAge:      -1,
		LoginHint:   form.Get("login_hint"),
		Launch:      launch,
	}
	if ma, err := strconv.Atoi(form.Get("max_age")); err == nil && ma >= 0 {
		areq.MaxAge = time.Duration(ma) * time.Second
	}
	dec, err := s.ia.Authorize(w, r, areq)
	switch {
	case errors.Is(err, ErrInteractionPending):
		return
	case errors.Is(err, ErrAccessDenied):
		desc := "The resource owner denied the request."
		if de := (*DeniedError)(nil); errors.As(err, &de) && de.Description != "" {
			desc = de.Description
		}
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint(desc))
		return
	case errors.Is(err, ErrLoginRequired):
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrLoginRequired)
		return
	case errors.Is(err, ErrConsentRequired):
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrConsentRequired)
		return
	case errors.Is(err, ErrInteractionRequired):
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrInteractionRequired)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "authorize interaction", "err", err, "client_id", fc.c.ID)
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrServerError)
		return
	case dec == nil || dec.Subject == "":
		s.log.ErrorContext(ctx, "authorize interaction returned no subject", "client_id", fc.c.ID)
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrServerError)
		return
	}
	requested := []string(ar.GetRequestedScopes())
	for _, sc := range dec.Scopes {
		if slices.Contains(requested, sc) || s.cfg.ScopeStrategy(requested, sc) {
			ar.GrantScope(sc)
		}
	}
	if aud != "" {
		ar.GrantAudience(aud)
	}
	if launch != nil {
		if lc, ok := s.launches.(LaunchConsumer); ok {
			if err := lc.ConsumeLaunch(ctx, form.Get("launch"), fc.c.ID); err != nil {
				s.log.InfoContext(ctx, "launch refused at use", "err", err, "client_id", fc.c.ID)
				s.writeAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The launch parameter was already used or has expired."))
				return
			}
		}
	}
	sess, err := s.newUserSession(ctx, ar, dec, aud, base, launch)
	if err != nil {
		s.log.ErrorContext(ctx, "authorize session", "err", err, "client_id", fc.c.ID)
		s.writeAuthorizeError(ctx, w, ar, fosite.ErrServerError)
		return
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.writeAuthorizeError(ctx, w, ar, err)
		return
	}
	resp.AddParameter("iss", base) // RFC 9207
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// dropDisallowedScopes removes from the request the scopes the client may
// never have (RFC 6749 §3.3: the server may ignore requested scopes; the
// token response's scope says what was granted).
func (s *Server) dropDisallowedScopes(ctx context.Context, form url.Values) {
	fc, err := s.client(ctx, form.Get("client_id"))
	if err != nil || form.Get("scope") == "" {
		return
	}
	var kept []string
	for _, sc := range strings.Fields(form.Get("scope")) {
		if s.cfg.ScopeStrategy(fc.GetScopes(), sc) && !slices.Contains(kept, sc) {
			kept = append(kept, sc)
		}
	}
	form.Set("scope", strings.Join(kept, " "))
}

// errPlainHTTPRedirect refuses an authorization request or a code
// exchange that came over the plain-HTTP listener for a redirect URI that
// is not loopback.
var errPlainHTTPRedirect = fosite.ErrInvalidRequest.WithHint(
	"Over plain HTTP, only loopback redirect URIs (127.0.0.1, [::1], localhost) may be used; use the HTTPS interface.")

// plainHTTPNonLoopback reports whether the request of ctx came over the
// plain-HTTP listener and redirectURI is not a loopback one: SMART flows
// over plain HTTP only for loopback redirect URIs (RFC 8252 §7.3, RFC 9700
// §2.6; checklist S2, interface.md "Security defaults"). A request with no
// listener information (a bare httptest server) is not restricted.
func plainHTTPNonLoopback(ctx context.Context, redirectURI *url.URL) bool {
	info, ok := listener.From(ctx)
	return ok && !info.Secure && (redirectURI == nil || !isLoopbackHost(redirectURI.Hostname()))
}

// writeAuthorizeError redirects to a validated redirect URI, or answers a
// JSON 400 when the client or redirect URI could not be established. Over
// the plain-HTTP listener it never redirects to a redirect URI that is not
// loopback (checklist S2: no authorization response, an error included,
// for such a URI over plain HTTP).
func (s *Server) writeAuthorizeError(ctx context.Context, w http.ResponseWriter, ar fosite.AuthorizeRequester, err error) {
	if ar == nil || !ar.IsRedirectURIValid() || plainHTTPNonLoopback(ctx, ar.GetRedirectURI()) {
		code, desc := errorCode(err)
		if code == "server_error" || code == "" {
			code = "invalid_request"
		}
		writeOAuthError(w, http.StatusBadRequest, code, desc)
		return
	}
	if iss := issuerFrom(ctx); iss != "" {
		w = issWriter{ResponseWriter: w, iss: iss}
	}
	s.provider.WriteAuthorizeError(ctx, w, ar, err)
}

// issWriter adds the RFC 9207 iss parameter to an error redirect (fosite
// writes it only on success responses, where we add it ourselves): the
// metadata advertises authorization_response_iss_parameter_supported, which
// promises iss on every authorization response, errors included.
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w issWriter) WriteHeader(code int) {
	if code >= 300 && code < 400 {
		if u, err := url.Parse(w.Header().Get("Location")); err == nil && u.Query().Get("error") != "" {
			q := u.Query()
			q.Set("iss", w.iss)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// checkAuthorize applies smartgate's rules on top of fosite's: code flow
// only, PKCE with S256 (required for public clients and all clients unless
// the client is exempt), SMART aud naming one of our FHIR bases, launch.
func (s *Server) checkAuthorize(ctx context.Context, ar fosite.AuthorizeRequester) (string, *LaunchContext, error) {
	fc := ar.GetClient().(*fositeClient)
	if !ar.GetResponseTypes().ExactOne("code") {
		return "", nil, fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	}
	if plainHTTPNonLoopback(ctx, ar.GetRedirectURI()) {
		return "", nil, errPlainHTTPRedirect
	}
	form := ar.GetRequestForm()
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge != "" && method != "S256":
		return "", nil, fosite.ErrInvalidRequest.WithHint("code_challenge_method must be S256.")
	case challenge == "" && method != "":
		return "", nil, fosite.ErrInvalidRequest.WithHint("code_challenge_method without code_challenge.")
	case challenge == "" && (fc.c.Public || fc.c.RequirePKCE || s.cfg.PKCEForAll):
		return "", nil, fosite.ErrInvalidRequest.WithHint("PKCE (code_challenge with S256) is required.")
	}
	aud := form.Get("aud")
	if aud == "" {
		aud = form.Get("resource")
	}
	if aud != "" {
		norm, ok := s.fhirBase(aud)
		if !ok {
			return "", nil, fosite.ErrInvalidRequest.WithHint("aud does not name a FHIR server of this authorization server.")
		}
		aud = norm
	} else if needsAud(ar.GetRequestedScopes()) {
		return "", nil, fosite.ErrInvalidRequest.WithHint("aud (the FHIR base URL) is required.")
	}
	var launch *LaunchContext
	if l := form.Get("launch"); l != "" {
		if s.launches == nil {
			return "", nil, fosite.ErrInvalidRequest.WithHint("EHR launch is not available.")
		}
		lc, err := s.launches.ResolveLaunch(ctx, l, fc.c.ID)
		if err != nil || lc == nil {
			return "", nil, fosite.ErrInvalidRequest.WithHint("The launch parameter is unknown, expired or not for this client.")
		}
		if lc.Issuer != "" && strings.TrimRight(lc.Issuer, "/") != aud {
			return "", nil, fosite.ErrInvalidRequest.WithHint("aud must be the iss the app was launched with.")
		}
		launch = lc
	}
	return aud, launch, nil
}

// fhirBase returns the configured FHIR base that aud names (trailing
// slashes ignored): one of this server's or an extra one.
func (s *Server) fhirBase(aud string) (string, bool) {
	a := strings.TrimRight(aud, "/")
	for _, bases := range [][]string{s.cfg.FHIRBaseURLs, s.cfg.ExtraFHIRBaseURLs} {
		for _, b := range bases {
			if a == b {
				return b, true
			}
		}
	}
	return "", false
}

// needsAud: SMART scopes (resource and launch scopes) need an aud.
func needsAud(scopes []string) bool {
	for _, sc := range scopes {
		if strings.Contains(sc, "/") || sc == "launch" {
			return true
		}
	}
	return false
}

func requestID(clientID string, form url.Values) string {
	h := sha256.New()
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	h.Write([]byte(form.Encode())) // Encode sorts by key
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func httpsOrEmpty(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme == "https" && u.Host != "" {
		return s
	}
	return ""
}

// newUserSession builds the grant's session from the person's decision.
func (s *Server) newUserSession(ctx context.Context, ar fosite.AuthorizeRequester, dec *Decision, aud, base string, launch *LaunchContext) (*Session, error) {
	sess := newSession()
	sess.Subject = dec.Subject
	sess.Aud = aud
	sess.Issuer = base
	sess.SessionID = dec.SessionID
	sess.Grant = "authorization_code"
	sess.Launch = dec.Context
	if sess.Launch == nil && launch != nil {
		sess.Launch = launch
	}
	if sess.Launch != nil {
		// Every launch context (EHR or standalone) carries the style sheet
		// of this listener and, unless the EHR launch said otherwise, asks
		// for a patient banner (the app is not embedded in an EHR).
		lc := *sess.Launch
		if lc.SmartStyleURL == "" && s.cfg.SmartStylePath != "" {
			lc.SmartStyleURL = base + s.cfg.SmartStylePath
		}
		if lc.NeedPatientBanner == nil && lc.Patient != "" {
			banner := true
			lc.NeedPatientBanner = &banner
		}
		sess.Launch = &lc
	}
	if granted := ar.GetGrantedScopes(); granted.Has("online_access") && !granted.Has("offline_access") {
		// Online-only grants end with the log-in session (RevokeSession).
		sess.OnlineSession = dec.SessionID
	}
	var uc UserClaims
	if s.users != nil {
		var err error
		uc, err = s.users.Claims(ctx, dec.Subject)
		if err != nil {
			return nil, err
		}
	}
	sess.Username = uc.Username
	granted := ar.GetGrantedScopes()
	fhirBase := aud
	if fhirBase == "" && len(s.cfg.FHIRBaseURLs) > 0 {
		fhirBase = s.cfg.FHIRBaseURLs[0]
	}
	if uc.FHIRUser != "" && (granted.Has("fhirUser") || granted.Has("profile")) {
		sess.FHIRUser = uc.FHIRUser
	}
	authTime := dec.AuthTime
	if authTime.IsZero() {
		authTime = s.cfg.Now()
	}
	c := sess.Claims
	c.Subject = dec.Subject
	c.AuthTime = authTime.UTC().Truncate(time.Second)
	c.RequestedAt = ar.GetRequestedAt()
	if slices.Contains(strings.Fields(ar.GetRequestForm().Get("prompt")), "login") && c.AuthTime.Before(c.RequestedAt) {
		// The request we see is the one resumed after the log-in page, so
		// it is younger than the log-in the pages made for prompt=login.
		c.RequestedAt = c.AuthTime
	}
	if len(dec.AMR) > 0 {
		c.AuthenticationMethodsReferences = dec.AMR
	}
	if sess.FHIRUser != "" {
		abs := fhirBase + "/" + sess.FHIRUser
		if granted.Has("fhirUser") {
			c.Extra["fhirUser"] = abs
		}
		if granted.Has("profile") {
			c.Extra["profile"] = abs
		}
	}
	if granted.Has("profile") && uc.Name != "" {
		c.Extra["name"] = uc.Name
	}
	if granted.Has("email") && uc.Email != "" {
		c.Extra["email"] = uc.Email
	}
	if dec.SessionID != "" {
		c.Extra["sid"] = dec.SessionID
	}
	return sess, nil
}
