package idp_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/idp"
)

// An upstream may redirect within its own origin only: never to plain
// http on the loopback interface (the host's internal services), nor to
// another host (server-side request forgery through a provider).
func TestHTTPClientRedirectsStayOnTheOrigin(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "internal secret page")
	}))
	defer internal.Close()
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "another host")
	}))
	defer other.Close()
	var up *httptest.Server
	up = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-loopback-http":
			http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
		case "/to-other-host":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/same-origin":
			http.Redirect(w, r, up.URL+"/target", http.StatusFound)
		case "/target":
			io.WriteString(w, "followed")
		}
	}))
	defer up.Close()
	// One transport that trusts both test servers' certificates.
	tr := up.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs.AddCert(other.Certificate())
	c := idp.HTTPClient(tr, 0, 0)

	for _, path := range []string{"/to-loopback-http", "/to-other-host"} {
		resp, err := c.Get(up.URL + path)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Errorf("%s: followed to %q", path, b)
			continue
		}
		if !strings.Contains(err.Error(), "another origin refused") {
			t.Errorf("%s: err = %v", path, err)
		}
	}
	resp, err := c.Get(up.URL + "/same-origin")
	if err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "followed" {
		t.Errorf("same-origin redirect body = %q", b)
	}
}

// An answer of exactly the bound is read whole; one byte more fails with
// ErrTooLarge.
func TestHTTPClientBoundsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", len(r.URL.Query().Get("n"))))
	}))
	defer srv.Close()
	c := idp.HTTPClient(nil, 0, 8)
	read := func(n int) ([]byte, error) {
		resp, err := c.Get(srv.URL + "/?n=" + strings.Repeat("1", n))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	if b, err := read(8); err != nil || len(b) != 8 {
		t.Errorf("8 bytes: %d, %v", len(b), err)
	}
	if _, err := read(9); !errors.Is(err, idp.ErrTooLarge) {
		t.Errorf("9 bytes: err = %v, want ErrTooLarge", err)
	}
}

func TestSecureURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://accounts.google.com": true,
		"http://127.0.0.1:9000":       true,
		"http://localhost:9000/x":     true,
		"http://[::1]:9000":           true,
		"http://example.org":          false,
		"https://user@example.org":    false,
		"/relative":                   false,
		"ftp://example.org":           false,
	} {
		if got := idp.SecureURL(raw); got != want {
			t.Errorf("SecureURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"access_denied\r\n\x00<b>", 64, "access_denied<b>"},
		{strings.Repeat("é", 10), 3, "ééé…"},
		{"bad\xffutf8", 64, "badutf8"},
		{"\u2028line\u0085", 64, "line"},
	} {
		if got := idp.CleanText(tc.in, tc.limit); got != tc.want {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestReserved(t *testing.T) {
	for _, id := range []string{"code", "callback", "link", "second-factor", "enrol"} {
		if !idp.Reserved(id) {
			t.Errorf("%q is not reserved", id)
		}
	}
	for _, id := range []string{"google", "hl7", "codes"} {
		if idp.Reserved(id) {
			t.Errorf("%q is reserved", id)
		}
	}
}
