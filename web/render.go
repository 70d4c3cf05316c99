package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"unicode"

	"github.com/smartgate/smartgate/internal/pagetmpl"
)

type pageTemplate = template.Template

// pageNames are the templates/<name>.html files, each executed together
// with templates/base.html.
var pageNames = []string{"login", "consent", "logout", "loggedout", "apps", "pick", "pick-encounter", "error",
	"second-factor", "enrol", "recovery", "security", "password", "needs-account", "link", "links", "signin-code"}

func parseTemplates(fsys fs.FS) (map[string]*pageTemplate, error) {
	pages, err := pagetmpl.Parse(fsys, template.FuncMap{"join": strings.Join}, nil, pageNames...)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return pages, nil
}

// contentSecurityPolicy allows only our own style sheet and images: the
// pages never show a client's remote logo_uri (a third party would learn
// who is about to allow what), no scripts, no framing, no plugins.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Initials are what the pages show in place of a client's logo: the first
// letters of the first two words of name, upper-cased ("?" for none).
func Initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				out = append(out, unicode.ToUpper(r))
				break
			}
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// setPageHeaders sets the headers every page response carries: no framing
// (RFC 9700 §4.16), no caching (credentials and per-user content) and no
// referrer (request URLs carry request ids).
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// execute renders page name with data into a buffer.
func (s *Server) execute(name string, data any) ([]byte, error) {
	t, ok := s.pages[name]
	if !ok {
		return nil, fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", data); err != nil {
		return nil, fmt.Errorf("web: render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// render writes page name with status; a template failure becomes the
// error page (nothing has been written yet).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	body, err := s.execute(name, data)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// redirect answers a 303 See Other (never 307 after a POST: RFC 9700 §4.12).
func redirect(w http.ResponseWriter, location string) {
	setPageHeaders(w.Header())
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

type errorView struct {
	Status    int
	Message   string
	RequestID string
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fail logs err under a new request id and shows the error page with msg
// (a generic one when msg is empty) and that id.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	id := ""
	if s.cfg.RequestID != nil {
		id = s.cfg.RequestID(r.Context())
	}
	if id == "" {
		id = newRequestID()
	}
	if msg == "" {
		msg = "Something went wrong on our side."
	}
	level := s.log.Warn
	if status >= 500 {
		level = s.log.Error
	}
	level("page error", "request_id", id, "status", status, "method", r.Method, "path", r.URL.Path, "err", err)
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	body, rerr := s.execute("error", errorView{Status: status, Message: msg, RequestID: id})
	if rerr != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s\nRequest id: %s\n", msg, id)
		return
	}
	w.WriteHeader(status)
	w.Write(body)
}
