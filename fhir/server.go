package fhir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// DefaultMaxBodyBytes bounds request bodies (transactions included).
const DefaultMaxBodyBytes = 16 << 20

// Config configures the endpoint.
type Config struct {
	// Auth authenticates requests. When nil and AccessControlOff is false,
	// every data request is answered 401.
	Auth Authenticator
	// AccessControlOff lets every request do everything (NoAccessControl).
	// Only for tests and deliberately open deployments.
	AccessControlOff bool
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxIncluded caps the included resources of a search page; 0 means
	// DefaultMaxIncluded.
	MaxIncluded int
	// OAuthURIs returns the SMART endpoints for the CapabilityStatement's
	// oauth-uris extension, keyed by the extension's sub-extension urls
	// (authorize, token, register, manage, introspect, revoke), for the
	// listener that served r. Nil leaves the extension out.
	OAuthURIs func(r *http.Request) map[string]string
	// SecurityDescription returns the CapabilityStatement's
	// rest.security.description for the listener that served r (the
	// client-certificate policy in effect there); nil or "" leaves it out.
	SecurityDescription func(r *http.Request) string
	// Registry is the search parameter registry; nil loads the embedded one.
	Registry *search.Registry
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// SoftwareVersion is reported in the CapabilityStatement.
	SoftwareVersion string
	// Audit, when set, receives one record (kind "fhir") per request.
	Audit audit.Recorder
	// AllowOrigin decides which browser origins may call the endpoint
	// (CORS). Nil allows every origin: access needs a bearer token, never a
	// cookie, so credentials are not allowed.
	AllowOrigin func(origin string) bool
	// LocalTypes are the resource types the endpoint answers itself, never
	// from the Store (see LocalType), by type name.
	LocalTypes map[string]LocalType
}

// Server is the FHIR R4 REST endpoint.
type Server struct {
	cfg    Config
	st     Store
	reg    *search.Registry
	auth   Authenticator
	logger *slog.Logger
	now    func() time.Time
}

// New returns the endpoint. It panics if the embedded search definitions
// cannot be loaded (a build defect).
func New(cfg Config, st Store, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, st: st, reg: cfg.Registry, logger: logger, now: cfg.Now}
	if s.reg == nil {
		reg, err := search.Load()
		if err != nil {
			panic(err)
		}
		s.reg = reg
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case cfg.AccessControlOff:
		s.auth = NoAccessControl{}
	case cfg.Auth != nil:
		s.auth = cfg.Auth
	default:
		s.auth = denyAll{}
	}
	if s.cfg.MaxBodyBytes <= 0 {
		s.cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.cfg.MaxIncluded <= 0 {
		s.cfg.MaxIncluded = DefaultMaxIncluded
	}
	return s
}

// Registry returns the search parameter registry in use.
func (s *Server) Registry() *search.Registry { return s.reg }

// Register adds the endpoint's routes under /fhir/.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /fhir/metadata", s.wrap("", s.handleMetadata))
	mux.HandleFunc("POST /fhir", s.wrap("bundle", s.handleBundle))
	mux.HandleFunc("POST /fhir/{$}", s.wrap("bundle", s.handleBundle))
	mux.HandleFunc("GET /fhir/_history", s.wrap(string(InteractionHistorySystem), s.handleHistory))
	mux.HandleFunc("GET /fhir/{type}", s.wrap(string(InteractionSearchType), s.handleSearch))
	mux.HandleFunc("POST /fhir/{type}/_search", s.wrap(string(InteractionSearchType), s.handleSearch))
	mux.HandleFunc("POST /fhir/{type}", s.wrap(string(InteractionCreate), s.handleCreate))
	mux.HandleFunc("PUT /fhir/{type}", s.wrap(string(InteractionUpdate), s.handleConditionalUpdate))
	mux.HandleFunc("DELETE /fhir/{type}", s.wrap(string(InteractionDelete), s.handleConditionalDelete))
	mux.HandleFunc("GET /fhir/{type}/_history", s.wrap(string(InteractionHistoryType), s.handleHistory))
	mux.HandleFunc("GET /fhir/{type}/{id}", s.wrap(string(InteractionRead), s.handleRead))
	mux.HandleFunc("PUT /fhir/{type}/{id}", s.wrap(string(InteractionUpdate), s.handleUpdate))
	mux.HandleFunc("DELETE /fhir/{type}/{id}", s.wrap(string(InteractionDelete), s.handleDelete))
	mux.HandleFunc("GET /fhir/{type}/{id}/_history", s.wrap(string(InteractionHistoryInstance), s.handleHistory))
	mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}", s.wrap(string(InteractionVRead), s.handleVRead))
	mux.HandleFunc("OPTIONS /fhir/", s.handlePreflight)
	mux.HandleFunc("OPTIONS /fhir", s.handlePreflight)
	unknown := s.wrap("unknown", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "not-supported", "no FHIR interaction %s %s", r.Method, r.URL.Path)
	})
	mux.HandleFunc("/fhir/", unknown)
	mux.HandleFunc("/fhir", unknown)
}

// httpError is an error answered with an OperationOutcome.
type httpError struct {
	status int
	code   string // OperationOutcome issue code
	msg    string
	header http.Header
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, code, format string, a ...any) *httpError {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

// toHTTPError maps store, access and search errors to HTTP answers.
func toHTTPError(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var se *search.Error
	if errors.As(err, &se) {
		return errorf(http.StatusBadRequest, "invalid", "%s", se.Msg)
	}
	var ur *UpstreamRefusal
	if errors.As(err, &ur) {
		return errorf(ur.Status, "processing", "%s", ur.Error())
	}
	var ch *Challenge
	if errors.As(err, &ch) {
		e := errorf(http.StatusUnauthorized, "login", "%s", ch.Detail)
		e.header = http.Header{"Www-Authenticate": {ch.Header}}
		return e
	}
	switch {
	case errors.Is(err, ErrInvalidCursor):
		return errorf(http.StatusBadRequest, "invalid", "_cursor is not a cursor of this listing: follow the next link as given")
	case errors.Is(err, ErrNoToken):
		e := errorf(http.StatusUnauthorized, "login", "authentication required")
		e.header = http.Header{"Www-Authenticate": {`Bearer realm="fhir"`}}
		return e
	case errors.Is(err, ErrInvalidToken):
		e := errorf(http.StatusUnauthorized, "login", "invalid token")
		e.header = http.Header{"Www-Authenticate": {`Bearer realm="fhir", error="invalid_token"`}}
		return e
	case errors.Is(err, ErrInsufficientScope):
		e := errorf(http.StatusForbidden, "forbidden", "insufficient scope")
		e.header = http.Header{"Www-Authenticate": {`Bearer realm="fhir", error="insufficient_scope"`}}
		return e
	case errors.Is(err, ErrHidden), errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not-found", "resource not found")
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "conflicting concurrent write; retry")
	case errors.Is(err, ErrGatewayTimeout):
		return errorf(http.StatusGatewayTimeout, "timeout", "%v", err)
	case errors.Is(err, ErrBadGateway):
		return errorf(http.StatusBadGateway, "transient", "%v", err)
	case errors.Is(err, store.ErrUnavailable):
		return errorf(http.StatusServiceUnavailable, "transient", "storage unavailable; retry later")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, "timeout", "request cancelled")
	}
	return errorf(http.StatusInternalServerError, "exception", "internal error")
}

// cors sets the CORS response headers for an allowed Origin and reports
// whether the origin is allowed.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	if s.cfg.AllowOrigin != nil && !s.cfg.AllowOrigin(origin) {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Expose-Headers", "Location, ETag, Last-Modified, Content-Location, WWW-Authenticate")
	return true
}

func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// wrap turns a handler into an http.HandlerFunc: CORS, content
// negotiation, panics and errors as OperationOutcome, and one audit record
// per request (action names the interaction; "" for none).
func (s *Server) wrap(action string, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.cors(w, r)
		if action != "" && s.cfg.Audit != nil {
			rs := &requestState{}
			r = r.WithContext(context.WithValue(r.Context(), requestStateKey{}, rs))
			sw := &statusWriter{ResponseWriter: w}
			w = sw
			defer s.audit(r, action, rs, sw)
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("fhir handler panic", "panic", v, "path", r.URL.Path)
				s.writeOutcome(w, errorf(http.StatusInternalServerError, "exception", "internal error"))
			}
		}()
		if !acceptable(r) {
			s.writeOutcome(w, errorf(http.StatusNotAcceptable, "not-supported", "only JSON is supported (application/fhir+json)"))
			return
		}
		if typ, lt := s.localType(r); lt != nil {
			h = s.localHandler(typ, lt, action)
		}
		if err := h(w, r); err != nil {
			if rs, ok := r.Context().Value(requestStateKey{}).(*requestState); ok && errors.Is(err, ErrHidden) {
				rs.hidden = true
			}
			he := toHTTPError(err)
			if he.status >= 500 {
				s.logger.Error("fhir request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			s.writeOutcome(w, he)
		}
	}
}

var jsonTypes = map[string]bool{
	"application/fhir+json": true, "application/json": true, "application/json+fhir": true,
}

// acceptable reports whether the client accepts JSON (Accept and _format).
func acceptable(r *http.Request) bool {
	if f := r.URL.Query().Get("_format"); f != "" {
		mt, _, _ := mime.ParseMediaType(f)
		return f == "json" || jsonTypes[mt]
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		if jsonTypes[mt] || mt == "*/*" || mt == "application/*" {
			return true
		}
	}
	return false
}

// checkContentType refuses a request body that is not JSON.
func checkContentType(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !jsonTypes[mt] {
			return errorf(http.StatusUnsupportedMediaType, "not-supported", "Content-Type must be application/fhir+json")
		}
	}
	return nil
}

// readBody reads a JSON request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := checkContentType(r); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "too-costly", "request body larger than %d bytes", s.cfg.MaxBodyBytes)
		}
		return nil, errorf(http.StatusBadRequest, "invalid", "reading the request body: %v", err)
	}
	return b, nil
}

func (s *Server) baseURL(r *http.Request) string { return listener.BaseURL(r) + "/fhir" }

func (s *Server) principal(r *http.Request) (Principal, error) {
	p, err := s.auth.Authenticate(r)
	if rs, ok := r.Context().Value(requestStateKey{}).(*requestState); ok {
		rs.p = p
	}
	return p, err
}

// operationOutcome builds an OperationOutcome with one issue.
func operationOutcome(severity, code, msg string) map[string]any {
	return map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity": severity, "code": code, "diagnostics": msg,
		}},
	}
}

func (s *Server) writeOutcome(w http.ResponseWriter, e *httpError) {
	for k, v := range e.header {
		w.Header()[k] = v
	}
	s.writeJSON(w, e.status, operationOutcome("error", e.code, e.msg))
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	switch x := v.(type) {
	case []byte:
		b = x
	case map[string]any:
		b = encodeResource(x)
	default:
		b = marshal(v)
	}
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// marshal encodes v as JSON without HTML escaping.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("fhir: marshal: %v", err)) // only plain data reaches here
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// rawJSON is JSON written out unchanged (stored resources in Bundles).
type rawJSON []byte

// encodeResource encodes a resource with resourceType, id and meta first,
// then the other elements in name order. Values of type rawJSON are copied
// as they are.
func encodeResource(m map[string]any) []byte {
	var buf bytes.Buffer
	encodeValue(&buf, m)
	return buf.Bytes()
}

func encodeValue(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case rawJSON:
		buf.Write(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			switch k {
			case "resourceType", "id", "meta":
			default:
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		first := true
		write := func(k string) {
			e, ok := x[k]
			if !ok {
				return
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			writeString(buf, k)
			buf.WriteByte(':')
			encodeValue(buf, e)
		}
		write("resourceType")
		write("id")
		write("meta")
		for _, k := range keys {
			write(k)
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeValue(buf, e)
		}
		buf.WriteByte(']')
	case string:
		writeString(buf, x)
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case nil:
		buf.WriteString("null")
	default:
		buf.Write(marshal(v))
	}
}

// writeString writes s as a JSON string, as marshal would: plain ASCII
// directly, anything that needs escaping through encoding/json.
func writeString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			buf.Write(marshal(s))
			return
		}
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

const instantFormat = "2006-01-02T15:04:05.000Z07:00"

// setResourceHeaders sets ETag, Last-Modified and (when loc) Location.
func (s *Server) setResourceHeaders(w http.ResponseWriter, r *http.Request, res *Resource, loc bool) {
	w.Header().Set("ETag", etag(res.Version))
	w.Header().Set("Last-Modified", res.LastUpdated.UTC().Format(http.TimeFormat))
	if loc {
		w.Header().Set("Location", fmt.Sprintf("%s/%s/%s/_history/%d", s.baseURL(r), res.Type, res.ID, res.Version))
	}
}

func (s *Server) checkType(typ string) error {
	if !s.reg.IsType(typ) {
		return errorf(http.StatusNotFound, "not-supported", "unknown resource type %q", typ)
	}
	return nil
}

func checkID(id string) error {
	if !search.ValidID(id) {
		return errorf(http.StatusBadRequest, "invalid", "%q is not a valid FHIR id", id)
	}
	return nil
}

// patientsOf returns the patient compartments of stored resource content.
func (s *Server) patientsOf(typ string, raw []byte) []string {
	if len(raw) == 0 {
		return nil
	}
	m, err := search.Decode(raw)
	if err != nil {
		return nil
	}
	p, _ := s.reg.PatientCompartments(typ, m, raw)
	return p
}

// authorizeStored decides an interaction on one stored resource (content
// nil for a deleted one without earlier content). The content is decoded
// for its compartments only when the caller's grant does not reach every
// resource of the type anyway.
func (s *Server) authorizeStored(ctx context.Context, p Principal, in Interaction, typ, id string, content []byte) error {
	if reachesAll(ctx, p, in, typ) {
		return nil
	}
	return p.Authorize(ctx, AccessRequest{Interaction: in, Type: typ, ID: id,
		Patients: s.patientsOf(typ, content), Resource: content})
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) error {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if err := s.checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	// No scope for the type: 403 before anything about existence is known.
	if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionRead, Type: typ}); err != nil {
		return err
	}
	res, err := s.st.ReadResource(r.Context(), typ, id)
	if err != nil {
		return err
	}
	if res.Deleted {
		// Whether it existed is only revealed to who could have read its
		// last content (another patient's deleted resource reads as 404).
		last := s.lastContent(r, res)
		if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionRead, Type: typ, ID: id,
			Patients: s.patientsOf(typ, last), Resource: last}); err != nil {
			return err
		}
		return errorf(http.StatusGone, "deleted", "%s/%s was deleted", typ, id)
	}
	if err := s.authorizeStored(r.Context(), p, InteractionRead, typ, id, res.JSON); err != nil {
		return err
	}
	s.setResourceHeaders(w, r, res, false)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if v, err := parseETag(inm); err == nil && v == res.Version {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	body := res.JSON
	if el := r.URL.Query().Get("_elements"); el != "" {
		body = elements(body, strings.Split(el, ","))
	}
	s.writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) handleVRead(w http.ResponseWriter, r *http.Request) error {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if err := s.checkType(typ); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	vid, err := strconv.ParseInt(r.PathValue("vid"), 10, 64)
	if err != nil || vid < 1 {
		return errorf(http.StatusBadRequest, "invalid", "%q is not a version id", r.PathValue("vid"))
	}
	p, err := s.principal(r)
	if err != nil {
		return err
	}
	if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionVRead, Type: typ}); err != nil {
		return err
	}
	res, err := s.st.ReadResourceVersion(r.Context(), typ, id, vid)
	if err != nil {
		return err
	}
	// Access is decided on the version asked for and on the current one.
	cur, err := s.st.ReadResource(r.Context(), typ, id)
	if err != nil {
		return err
	}
	for _, content := range [][]byte{s.lastContent(r, res), s.lastContent(r, cur)} {
		if err := p.Authorize(r.Context(), AccessRequest{Interaction: InteractionVRead, Type: typ, ID: id,
			Patients: s.patientsOf(typ, content), Resource: content}); err != nil {
			return err
		}
	}
	if res.Deleted {
		return errorf(http.StatusGone, "deleted", "version %d of %s/%s is a deletion", vid, typ, id)
	}
	s.setResourceHeaders(w, r, res, false)
	s.writeJSON(w, http.StatusOK, res.JSON)
	return nil
}

// elements keeps only the named top-level elements (plus resourceType, id
// and meta, which is marked SUBSETTED).
func elements(raw []byte, names []string) []byte {
	m, err := search.Decode(raw)
	if err != nil {
		return raw
	}
	keep := map[string]bool{"resourceType": true, "id": true, "meta": true}
	for _, n := range names {
		keep[strings.TrimSpace(n)] = true
	}
	for k := range m {
		if !keep[k] {
			delete(m, k)
		}
	}
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, map[string]any{
		"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
	})
	m["meta"] = meta
	return encodeResource(m)
}

// reachesAll reports whether p is known to be allowed in on every resource
// of typ, whatever its content (see WholeTypeReacher).
func reachesAll(ctx context.Context, p Principal, in Interaction, typ string) bool {
	wr, ok := p.(WholeTypeReacher)
	return ok && wr.ReachesAll(ctx, in, typ)
}
