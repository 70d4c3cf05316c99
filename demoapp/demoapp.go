// Package demoapp serves the bundled demo SMART app (static/apps/demo: the
// official SMART JavaScript client fhirclient plus a small page) at
// /apps/demo/, together with the config.json the page reads its client id
// and scopes from, and describes the public OAuth client that
// `smartgate serve --demo` registers for it.
//
// The app's pages load the library from ../../static/vendor/fhirclient/, so
// /static/ must be served from the same static/ tree.
package demoapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

// Path is where the demo app is served; it is also its redirect URI path.
const Path = "/apps/demo/"

// DefaultClientID is the demo app's client id unless Config says otherwise.
// A fixed id keeps the registration idempotent across restarts.
const DefaultClientID = "smartgate-demo-app"

// DefaultScope is what the demo app asks for: a standalone patient launch
// with identity, offline access and read/search of the four resource types
// it shows (SMART v2 syntax).
const DefaultScope = "launch/patient openid fhirUser patient/Patient.rs patient/Condition.rs " +
	"patient/MedicationRequest.rs patient/Observation.rs offline_access"

// registeredScope is what the client may request: DefaultScope plus "launch"
// for EHR launches from /admin/launch.
const registeredScope = "launch " + DefaultScope

// contentSecurityPolicy is sent with every demo app response: scripts and
// styles only from files of this origin (no inline code, no eval), FHIR and
// OAuth calls only to this origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Config says which client the demo app is.
type Config struct {
	ClientID string // default DefaultClientID
	Scope    string // default DefaultScope
}

// Handler serves the demo app.
type Handler struct {
	files  http.Handler
	config []byte
}

// New returns a Handler serving the app from static, the static/ asset tree
// (the one smartgate.Assets returns under "static").
func New(static fs.FS, cfg Config) (*Handler, error) {
	app, err := fs.Sub(static, strings.Trim(Path, "/"))
	if err != nil {
		return nil, fmt.Errorf("demo app files: %w", err)
	}
	for _, name := range []string{"launch.html", "index.html"} {
		if _, err := fs.Stat(app, name); err != nil {
			return nil, fmt.Errorf("demo app files: %w", err)
		}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	if strings.ContainsAny(cfg.ClientID, " \t\r\n") {
		return nil, errors.New("demo app: client id must not contain white space")
	}
	body, err := json.Marshal(struct {
		ClientID string `json:"clientId"`
		Scope    string `json:"scope"`
	}{cfg.ClientID, cfg.Scope})
	if err != nil {
		return nil, fmt.Errorf("demo app config: %w", err)
	}
	return &Handler{
		files:  http.StripPrefix(strings.TrimSuffix(Path, "/"), http.FileServerFS(app)),
		config: body,
	}, nil
}

// Register adds the demo app's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("GET "+Path, h)
}

// ServeHTTP serves config.json and the app's static files.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == Path+"config.json" {
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "no-store")
		w.Write(h.config)
		return
	}
	hdr.Set("Cache-Control", "no-cache")
	h.files.ServeHTTP(w, r)
}

// LaunchURL is the demo app's launch page under a listener's public base
// URL: open it for a standalone launch (printed by serve --demo); it is
// also the client's launch_uri for EHR launches.
func LaunchURL(baseURL string) string {
	return strings.TrimRight(baseURL, "/") + Path + "launch.html"
}

// RedirectURI is the demo app's redirect URI under a listener's public base
// URL.
func RedirectURI(baseURL string) string {
	return strings.TrimRight(baseURL, "/") + Path
}

// ClientMetadata is the demo app's client registration, with RFC 7591 (and
// SMART launch_uri) field names.
type ClientMetadata struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	LaunchURI               string   `json:"launch_uri"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
}

// Client returns the registration of the demo app as a public client (PKCE,
// no secret) with one redirect URI per listener base URL (empty ones, for
// listeners that are off, are left out). The launch URI names the first
// base URL: pass the one /admin/launch is normally used on first, since the
// app accepts an EHR launch only for a FHIR server of its own origin.
func Client(clientID string, baseURLs ...string) (ClientMetadata, error) {
	if clientID == "" {
		clientID = DefaultClientID
	}
	md := ClientMetadata{
		ClientID:                clientID,
		ClientName:              "smartgate demo app",
		Scope:                   registeredScope,
		TokenEndpointAuthMethod: "none",
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
	}
	for _, b := range baseURLs {
		if b == "" {
			continue
		}
		if md.LaunchURI == "" {
			md.LaunchURI = LaunchURL(b)
		}
		md.RedirectURIs = append(md.RedirectURIs, RedirectURI(b))
	}
	if len(md.RedirectURIs) == 0 {
		return ClientMetadata{}, errors.New("demo app client: no listener base URL")
	}
	return md, nil
}
