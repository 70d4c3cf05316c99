package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/store"
)

// APIPath is the launch API: an EHR (or an administrator's script) creates
// the same single-use, client-bound launch as the /admin/launch page and
// gets the app's launch_uri with iss and launch.
const APIPath = "/api/launch"

// MaxAPIBody bounds a launch API request's body.
const MaxAPIBody = 64 << 10

// TokenVerifier checks a bearer access token (authz.Server).
type TokenVerifier interface {
	VerifyAccessToken(ctx context.Context, token string) (*authz.TokenInfo, error)
}

// APIConfig holds what the launch API needs beyond the page's Config.
type APIConfig struct {
	Tokens TokenVerifier
	// Clients reads clients as they are now (authz.ClientCache), for the
	// caller's client flag.
	Clients  authz.ClientReader
	Accounts authz.AccountClaims
}

// APIRequest is the launch API's JSON body. ClientID and Patient are
// required; the rest are the optional launch context of the page.
type APIRequest struct {
	ClientID          string          `json:"client_id"`
	Patient           string          `json:"patient"`
	Encounter         string          `json:"encounter,omitempty"`
	Intent            string          `json:"intent,omitempty"`
	SmartStyleURL     string          `json:"smart_style_url,omitempty"`
	FHIRContext       json.RawMessage `json:"fhirContext,omitempty"`
	NeedPatientBanner *bool           `json:"need_patient_banner,omitempty"`
}

// APIResponse is the launch API's answer (201 Created).
type APIResponse struct {
	Launch    string `json:"launch"`
	Issuer    string `json:"iss"`
	LaunchURI string `json:"launch_uri"` // the app's launch_uri with iss and launch
	ClientID  string `json:"client_id"`
	Patient   string `json:"patient"`
	Encounter string `json:"encounter,omitempty"`
	ExpiresIn int64  `json:"expires_in"` // seconds
}

// DecodeAPIRequest reads one JSON object with only APIRequest's members
// (an unknown member is a mistake to report, not to ignore) and nothing
// after it; the error says what is wrong, for the caller to show.
func DecodeAPIRequest(r io.Reader) (APIRequest, error) {
	var req APIRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("the body is not a launch request: %w", err)
	}
	if dec.More() {
		return req, errors.New("the body has data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, errors.New("the body has data after the JSON object")
	}
	if len(req.FHIRContext) > 0 && !bytes.Equal(bytes.TrimSpace(req.FHIRContext), []byte("null")) {
		var items []map[string]any
		if err := json.Unmarshal(req.FHIRContext, &items); err != nil {
			return req, errors.New("fhirContext must be a JSON array of objects")
		}
	}
	return req, nil
}

// form is req as the page's form values (one check for both).
func (req APIRequest) form() formValues {
	f := formValues{ClientID: req.ClientID, Patient: strings.TrimSpace(req.Patient),
		Encounter: strings.TrimSpace(req.Encounter), Intent: strings.TrimSpace(req.Intent),
		StyleURL: strings.TrimSpace(req.SmartStyleURL), Banner: true}
	if req.NeedPatientBanner != nil {
		f.Banner = *req.NeedPatientBanner
	}
	if fc := bytes.TrimSpace(req.FHIRContext); len(fc) > 0 && !bytes.Equal(fc, []byte("null")) {
		f.FHIRContext = string(fc)
	}
	return f
}

// registerAPI adds the launch API to mux; other methods get a JSON 405.
func (s *Service) registerAPI(mux *http.ServeMux) {
	mux.HandleFunc("POST "+APIPath, s.apiCreate)
	mux.HandleFunc(APIPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		authz.WriteOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "The launch API takes POST only.")
	})
}

// apiCreate is POST APIPath: who may create launches is decided from the
// token before the body is read.
func (s *Service) apiCreate(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.apiCaller(w, r)
	if !ok {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		authz.WriteOAuthError(w, http.StatusUnsupportedMediaType, "invalid_request", "The request must be application/json.")
		return
	}
	req, err := DecodeAPIRequest(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		authz.WriteOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("The body is larger than %d bytes.", MaxAPIBody))
		return
	case err != nil:
		authz.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	actor := ""
	if caller.Admin {
		actor = caller.Subject
	}
	c, err := s.create(r, req.form(), actor, caller.ClientID)
	var bad badInput
	switch {
	case errors.As(err, &bad):
		authz.WriteOAuthError(w, http.StatusBadRequest, "invalid_request", string(bad))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(APIResponse{Launch: c.Value, Issuer: c.Issuer, LaunchURI: c.Location,
		ClientID: c.Client.ID, Patient: c.Context.Patient, Encounter: c.Context.Encounter,
		ExpiresIn: int64(s.cfg.TTL.Seconds())})
}

// apiCaller decides who the request's bearer token speaks for and whether
// it may create launches (authz.PrivilegeLaunchCreate: an administrator's
// OWin token, or a launch:create token of a client an administrator
// allowed it); otherwise it answers the RFC 6750 error and audits the
// refusal. The token is never logged.
func (s *Service) apiCaller(w http.ResponseWriter, r *http.Request) (*authz.PrivilegedCaller, bool) {
	ctx := r.Context()
	tok, ok := authz.BearerToken(r)
	if !ok || tok == "" {
		authz.WriteBearerError(w, http.StatusUnauthorized, "", "The launch API needs a bearer token.")
		return nil, false
	}
	api := s.cfg.API
	ti, err := api.Tokens.VerifyAccessToken(ctx, tok)
	if errors.Is(err, store.ErrUnavailable) {
		s.serverError(w, r, err)
		return nil, false
	} else if err != nil {
		s.refuse(r, "", "", "inactive token")
		authz.WriteBearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is not active.")
		return nil, false
	}
	pc, err := authz.PrivilegeLaunchCreate.Caller(ctx, ti, api.Clients, api.Accounts)
	switch {
	case errors.Is(err, authz.ErrNotPrivileged):
		s.refuse(r, ti.Subject, ti.ClientID, "token without launch:create")
		w.Header().Set("WWW-Authenticate", `Bearer realm="smartgate", error="insufficient_scope", scope="`+authz.ScopeLaunchCreate+`"`)
		authz.WriteOAuthError(w, http.StatusForbidden, "insufficient_scope",
			"Creating launches needs an administrator's token or the launch:create scope of a client an administrator allowed it.")
		return nil, false
	case errors.Is(err, authz.ErrInactiveToken):
		s.refuse(r, ti.Subject, ti.ClientID, "account gone or inactive")
		authz.WriteBearerError(w, http.StatusUnauthorized, "invalid_token", "The access token's account is no longer active.")
		return nil, false
	case err != nil:
		s.serverError(w, r, err)
		return nil, false
	}
	return pc, true
}

// refuse audits a refused launch API call.
func (s *Service) refuse(r *http.Request, actor, clientID, why string) {
	if s.cfg.Audit == nil {
		return
	}
	s.cfg.Audit.Record(r.Context(), audit.Event{At: s.cfg.Now(), Kind: "launch", Actor: actor, ClientID: clientID,
		Action: "ehr-launch", Outcome: audit.Failure, Detail: why, Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(r.Context())})
}

// serverError answers 503 when the store is down, else 500, and logs err.
func (s *Service) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "launch API", "err", err)
	if errors.Is(err, store.ErrUnavailable) {
		authz.WriteOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The launch could not be created now; try again.")
		return
	}
	authz.WriteOAuthError(w, http.StatusInternalServerError, "server_error", "The launch could not be created.")
}
