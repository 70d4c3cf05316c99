package authz

import (
	"encoding/json"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what a grant carries from the authorization to every token
// issued for it (stored as JSON with each code and token).
type Session struct {
	*openid.DefaultSession `json:"oidc"`
	// Issuer is the base URL of the listener that issued the tokens.
	Issuer string `json:"iss,omitempty"`
	// Aud is the FHIR base the access token is for (SMART aud).
	Aud      string         `json:"aud,omitempty"`
	FHIRUser string         `json:"fhirUser,omitempty"`
	Launch   *LaunchContext `json:"launch,omitempty"`
	// SessionID is the person's log-in session (online_access).
	SessionID string `json:"sid,omitempty"`
	// OnlineSession is the log-in session an online_access-only grant is
	// bound to (its tokens end with it); empty otherwise.
	OnlineSession string `json:"online_sid,omitempty"`
	// Grant is the grant type that started the grant (authorization_code,
	// client_credentials, password).
	Grant string `json:"grant,omitempty"`
	// Roles are the account's roles (OWin tokens).
	Roles []string `json:"roles,omitempty"`
	// CertThumbprint binds the access token to a client certificate
	// (RFC 8705 §3: the x5t#S256 of the certificate presented at the token
	// endpoint); "" for an unbound token.
	CertThumbprint string `json:"cnf_x5t,omitempty"`
}

var _ openid.Session = (*Session)(nil)

func newSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{Extra: map[string]any{}},
		Headers: &jwt.Headers{Extra: map[string]any{}},
	}}
}

// Clone deep-copies the session.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic("authz: session does not marshal: " + err.Error())
	}
	c := newSession()
	if err := json.Unmarshal(b, c); err != nil {
		panic("authz: session does not unmarshal: " + err.Error())
	}
	return c
}

// SetExpiresAt records when a token type expires.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	s.DefaultSession.SetExpiresAt(key, exp)
}

// patientID is the bare Patient id of the launch context, or "".
func (s *Session) patientID() string {
	if s.Launch == nil {
		return ""
	}
	return s.Launch.Patient
}

// contextFields are the SMART launch-context members of a token or
// introspection response.
func (s *Session) contextFields() map[string]any {
	out := map[string]any{}
	lc := s.Launch
	if lc == nil {
		return out
	}
	if lc.Patient != "" {
		out["patient"] = lc.Patient
	}
	if lc.Encounter != "" {
		out["encounter"] = lc.Encounter
	}
	if lc.NeedPatientBanner != nil {
		out["need_patient_banner"] = *lc.NeedPatientBanner
	}
	if lc.SmartStyleURL != "" {
		out["smart_style_url"] = lc.SmartStyleURL
	}
	if lc.Intent != "" {
		out["intent"] = lc.Intent
	}
	if len(lc.FHIRContext) > 0 {
		out["fhirContext"] = lc.FHIRContext
	}
	if lc.Tenant != "" {
		out["tenant"] = lc.Tenant
	}
	return out
}
