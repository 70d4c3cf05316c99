package bearer_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/fhir/bearer"
)

func TestToken(t *testing.T) {
	for _, tc := range []struct {
		header      string
		tok         string
		present, ok bool // ok: no error
	}{
		{"", "", false, true},
		{"Bearer abc.def", "abc.def", true, true},
		{"bearer abc", "abc", true, true},
		{"BEARER  abc ", "abc", true, true},
		{"Bearer", "", true, false},
		{"Bearer ", "", true, false},
		{"Bearer a b", "", true, false},
		{"Bearer a\tb", "", true, false},
		{"Basic abc", "", true, false},
		{"Bearerabc", "", true, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		tok, present, err := bearer.Token(r)
		if present != tc.present || (err == nil) != tc.ok || (tc.ok && tok != tc.tok) {
			t.Errorf("Token(%q) = %q, %v, %v; want %q, %v, ok %v", tc.header, tok, present, err, tc.tok, tc.present, tc.ok)
		}
	}
}

// FuzzToken: whatever the header, an accepted token is non-empty and has
// no white space inside, and an empty header is no token at all.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic y", "Bearer a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{h}
		tok, present, err := bearer.Token(r)
		if h == "" && present {
			t.Fatalf("empty header is present")
		}
		if err == nil && present && (tok == "" || strings.ContainsAny(tok, " \t")) {
			t.Fatalf("Token(%q) accepted %q", h, tok)
		}
	})
}
