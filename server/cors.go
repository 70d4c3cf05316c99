package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// CORSPolicy says which cross-origin browser requests are allowed. SMART
// apps run in browsers on their own origins (checklist A12, B6, D16, X4):
//   - public documents (discovery, /fhir/metadata, JWKS) may be read from
//     any origin;
//   - the APIs an app calls (token, userinfo, introspection, revocation,
//     registration, FHIR) answer only origins that a registered client uses
//     in a redirect URI;
//   - pages (log-in, consent, admin) never answer cross-origin requests.
//
// Credentials (cookies) are never allowed cross-origin: apps send bearer
// tokens.
type CORSPolicy struct {
	// OriginAllowed reports whether origin (scheme://host[:port]) belongs to
	// a registered client. Nil allows none.
	OriginAllowed func(ctx context.Context, origin string) bool
	// Logger receives a line for each refused preflight (origin and path);
	// nil logs nothing.
	Logger *slog.Logger
}

var publicPaths = []string{
	"/.well-known/",
	"/fhir/.well-known/",
	"/fhir/metadata",
	"/oauth/jwks",
	"/static/",
}

var apiPrefixes = []string{
	"/oauth/token",
	"/oauth/userinfo",
	"/oauth/introspect",
	"/oauth/revoke",
	"/oauth/register",
	"/fhir/",
}

func pathIn(path string, list []string) bool {
	for _, p := range list {
		if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) ||
			strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

const corsAllowHeaders = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, X-Request-Id"
const corsExposeHeaders = "Location, ETag, Last-Modified, Content-Location, X-Request-Id, WWW-Authenticate"

// Wrap returns next with CORS applied.
func (p CORSPolicy) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		public := pathIn(r.URL.Path, publicPaths)
		allowed := public
		if !allowed && pathIn(r.URL.Path, apiPrefixes) && validOrigin(origin) && p.OriginAllowed != nil {
			allowed = p.OriginAllowed(r.Context(), origin)
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !allowed {
			if preflight {
				if p.Logger != nil {
					p.Logger.InfoContext(r.Context(), "cors: preflight refused", "origin", origin, "path", r.URL.Path)
				}
				// No CORS headers: the browser refuses the actual request.
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if public {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validOrigin accepts a serialized origin: scheme://host[:port], no path.
func validOrigin(o string) bool {
	if o == "null" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// OriginOf returns the origin (scheme://host[:port]) of an absolute URL, or
// "" when it has none.
func OriginOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}
