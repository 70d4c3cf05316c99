// Command rs-appointments is a small appointment-booking API (not FHIR)
// protected with package rs: the tokens a SMART authorization server such
// as smartgate issues for it decide who may list and book appointments.
//
//	rs-appointments --issuer https://localhost:8443 --audience http://127.0.0.1:9090/api
//
// GET /api/appointments lists the appointments of the token's patient
// (patient/Appointment.rs, or SMART 1's patient/Appointment.read); POST
// /api/appointments books one for that patient (patient/Appointment.c).
// With --introspection-url (and --client-id, the secret in the environment
// variable --client-secret-env names) tokens are checked by RFC 7662
// introspection instead of locally, so that a revoked token is refused
// within seconds.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/smartgate/smartgate/rs"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rs-appointments:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rs-appointments", flag.ContinueOnError)
	issuer := fs.String("issuer", "", "the authorization server's issuer URL")
	audience := fs.String("audience", "", "this API's URL as tokens name it in aud")
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on")
	introspect := fs.String("introspection-url", "", "RFC 7662 endpoint (empty: verify JWTs with the issuer's keys)")
	clientID := fs.String("client-id", "", "this API's client id at the introspection endpoint")
	secretEnv := fs.String("client-secret-env", "RS_CLIENT_SECRET", "environment variable holding that client's secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, err := verifier(*issuer, *audience, *introspect, *clientID, os.Getenv(*secretEnv))
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: newAPI(v, slog.Default()), ReadHeaderTimeout: 10 * time.Second}
	slog.Info("listening", "addr", *listen)
	return srv.ListenAndServe()
}

// verifier is introspection when url is set, else local JWT verification.
func verifier(issuer, audience, url, clientID, secret string) (rs.Verifier, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("--issuer and --audience are required")
	}
	if url != "" {
		return rs.NewIntrospection(rs.IntrospectionOptions{URL: url, ClientID: clientID, ClientSecret: secret,
			Issuer: issuer, Audience: audience})
	}
	return rs.NewJWKS(rs.JWKSOptions{Issuer: issuer, Audience: audience})
}

// appointment is one booking.
type appointment struct {
	ID      int       `json:"id"`
	Patient string    `json:"patient"`
	Start   time.Time `json:"start"`
	With    string    `json:"with"`
}

// book is the in-memory store of bookings.
type book struct {
	mu    sync.Mutex
	items []appointment
}

// newAPI is the API's handler behind the token checks.
func newAPI(v rs.Verifier, logger *slog.Logger) http.Handler {
	b := &book{}
	opts := rs.Options{Realm: "appointments", Logger: logger}
	protect := rs.Middleware(v, opts)
	mux := http.NewServeMux()
	mux.Handle("GET /api/appointments", protect(rs.RequireScope("patient/Appointment.rs", opts)(http.HandlerFunc(b.list))))
	mux.Handle("POST /api/appointments", protect(rs.RequireScope("patient/Appointment.c", opts)(http.HandlerFunc(b.create))))
	return mux
}

// patientOf is the token's patient; a token without one (no patient
// context) may not use a patient/ API.
func patientOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, _ := rs.FromContext(r.Context())
	if c.Patient == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope", "error_description": "the token has no patient context"})
		return "", false
	}
	return c.Patient, true
}

func (b *book) list(w http.ResponseWriter, r *http.Request) {
	patient, ok := patientOf(w, r)
	if !ok {
		return
	}
	b.mu.Lock()
	out := []appointment{}
	for _, a := range b.items {
		if a.Patient == patient {
			out = append(out, a)
		}
	}
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (b *book) create(w http.ResponseWriter, r *http.Request) {
	patient, ok := patientOf(w, r)
	if !ok {
		return
	}
	var in struct {
		Start time.Time `json:"start"`
		With  string    `json:"with"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || in.Start.IsZero() || in.With == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "send {\"start\": RFC 3339 time, \"with\": name}"})
		return
	}
	b.mu.Lock()
	a := appointment{ID: len(b.items) + 1, Patient: patient, Start: in.Start.UTC(), With: in.With}
	b.items = append(b.items, a)
	b.mu.Unlock()
	writeJSON(w, http.StatusCreated, a)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
