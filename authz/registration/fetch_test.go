package registration_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/internal/testclock"
)

// clock is a manual clock for cache tests (no sleeping).
// jwksServer serves body with the given headers over TLS and counts hits.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte, header http.Header) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	// The "untrusted certificate" case makes the server log a handshake error.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// testFetcher returns a Fetcher that trusts srv's certificate and may reach
// its loopback address.
func testFetcher(t *testing.T, srv *httptest.Server, c *testclock.Clock, edit func(*registration.FetcherConfig)) *registration.Fetcher {
	t.Helper()
	cfg := registration.FetcherConfig{AllowPrivateAddresses: true, Now: c.Now}
	if srv != nil {
		cfg.Client = srv.Client()
	}
	if edit != nil {
		edit(&cfg)
	}
	f, err := registration.NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestK8_FetchJWKSOverTLS: a jwks_uri is fetched over TLS and its usable
// public keys returned; unusable keys are ignored (RFC 7517 §5).
func TestK8_FetchJWKSOverTLS(t *testing.T) {
	k := newTestKeys(t)
	doc := jwks(t,
		jwk(t, &k.rsa2048.PublicKey, "rsa", "RS384"),
		jwk(t, &k.p384.PublicKey, "ec", "ES384"),
		jwk(t, k.p256, "private", "ES256"),
		jwk(t, &k.rsa1024.PublicKey, "short", "RS384"),
		with(jwk(t, &k.p256.PublicKey, "", "ES256"), "kid", nil),
		map[string]any{"kty": "OKP", "kid": "okp", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
		map[string]any{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		with(jwk(t, &k.p256.PublicKey, "enc", ""), "use", "enc"),
	)
	srv := newJWKSServer(t, doc, nil)
	f := testFetcher(t, srv.Server, testclock.New(time.Unix(1e9, 0)), nil)
	set, err := f.Get(t.Context(), srv.URL+"/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, key := range set.Keys {
		if !key.IsPublic() {
			t.Fatalf("key %s is not public", key.KeyID)
		}
		kids = append(kids, key.KeyID)
	}
	if strings.Join(kids, ",") != "rsa,ec" {
		t.Fatalf("kids = %v, want [rsa ec]", kids)
	}
}

// TestK8_CacheHonoursMaxAge: cached for max-age (less Age), never longer,
// capped at MaxTTL; no-store/no-cache and invalid max-age are not cached;
// no Cache-Control gets the default lifetime.
func TestK8_CacheHonoursMaxAge(t *testing.T) {
	k := newTestKeys(t)
	doc := jwks(t, jwk(t, &k.p384.PublicKey, "ec", "ES384"))
	tests := []struct {
		name         string
		cacheControl string
		age          string
		expires      time.Duration // Expires header relative to Date, when not 0
		rawExpires   string
		fresh        time.Duration // still served from cache just before
	}{
		{name: "max-age", cacheControl: "public, max-age=600", fresh: 600 * time.Second},
		{name: "max-age minus Age", cacheControl: "max-age=600", age: "100", fresh: 500 * time.Second},
		{name: "first max-age wins", cacheControl: "max-age=60, max-age=6000", fresh: 60 * time.Second},
		{name: "short max-age is honoured", cacheControl: "max-age=5", fresh: 5 * time.Second},
		{name: "capped at MaxTTL", cacheControl: "max-age=31536000", fresh: 24 * time.Hour},
		{name: "no Cache-Control: default", fresh: 5 * time.Minute},
		{name: "Expires without max-age", expires: 90 * time.Second, fresh: 90 * time.Second},
		{name: "max-age wins over Expires", cacheControl: "max-age=30", expires: time.Hour, fresh: 30 * time.Second},
		{name: "Expires in the past", expires: -time.Hour},
		{name: "no-store", cacheControl: "max-age=600, no-store"},
		{name: "no-cache", cacheControl: "no-cache"},
		{name: "max-age=0", cacheControl: "max-age=0"},
		{name: "invalid max-age", cacheControl: "max-age=soon"},
		{name: "invalid Expires", cacheControl: "public", rawExpires: "0"},
		{name: "Age beyond max-age", cacheControl: "max-age=60", age: "120"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.cacheControl != "" {
				h.Set("Cache-Control", tc.cacheControl)
			}
			if tc.age != "" {
				h.Set("Age", tc.age)
			}
			c := testclock.New(time.Unix(1e9, 0))
			if tc.expires != 0 {
				// The origin's clock is an hour ahead: Expires counts from Date.
				date := c.Now().Add(time.Hour)
				h.Set("Date", date.UTC().Format(http.TimeFormat))
				h.Set("Expires", date.Add(tc.expires).UTC().Format(http.TimeFormat))
			}
			if tc.rawExpires != "" {
				h.Set("Expires", tc.rawExpires)
			}
			srv := newJWKSServer(t, doc, h)
			f := testFetcher(t, srv.Server, c, nil)
			get := func() {
				t.Helper()
				if _, err := f.Get(t.Context(), srv.URL); err != nil {
					t.Fatal(err)
				}
			}
			get()
			if tc.fresh == 0 {
				get()
				if n := srv.hits.Load(); n != 2 {
					t.Fatalf("hits = %d, want 2 (not cached)", n)
				}
				return
			}
			c.Advance(tc.fresh - time.Second)
			get()
			if n := srv.hits.Load(); n != 1 {
				t.Fatalf("hits = %d before expiry, want 1", n)
			}
			c.Advance(time.Second)
			get()
			if n := srv.hits.Load(); n != 2 {
				t.Fatalf("hits = %d at expiry, want 2 (never cached longer than max-age)", n)
			}
		})
	}
}

// TestK8_Refusals: non-https URLs, non-public addresses (checked at dial
// time, so a name resolving to loopback is refused too), oversized bodies,
// errors and documents without usable keys.
func TestK8_Refusals(t *testing.T) {
	k := newTestKeys(t)
	doc := jwks(t, jwk(t, &k.p384.PublicKey, "ec", "ES384"))
	tlsSrv := newJWKSServer(t, doc, nil)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(doc) }))
	t.Cleanup(plain.Close)
	big := newJWKSServer(t, []byte(`{"keys":[],"pad":"`+strings.Repeat("a", registration.MaxJWKSBytes)+`"}`), nil)
	notFound := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	empty := newJWKSServer(t, jwks(t, jwk(t, k.p384, "private", "ES384")), nil)
	html := newJWKSServer(t, []byte("<html>hi</html>"), nil)
	toHTTP := httptest.NewTLSServer(http.RedirectHandler(plain.URL, http.StatusFound))
	t.Cleanup(toHTTP.Close)

	port := func(s *httptest.Server) string { u, _ := url.Parse(s.URL); return u.Port() }
	tests := []struct {
		name string
		srv  *httptest.Server
		url  string
		edit func(*registration.FetcherConfig)
		want error
	}{
		{name: "http", srv: plain, url: plain.URL, want: registration.ErrForbiddenURL},
		{name: "http loopback when allowed", srv: plain, url: plain.URL, edit: func(c *registration.FetcherConfig) { c.AllowHTTPLoopback = true }},
		{name: "http non-loopback even when loopback allowed", url: "http://app.example/jwks", edit: func(c *registration.FetcherConfig) { c.AllowHTTPLoopback = true }, want: registration.ErrForbiddenURL},
		{name: "userinfo", srv: tlsSrv.Server, url: strings.Replace(tlsSrv.URL, "https://", "https://u:p@", 1), want: registration.ErrForbiddenURL},
		{name: "not a URL", url: "://x", want: registration.ErrForbiddenURL},
		{name: "loopback address", srv: tlsSrv.Server, url: tlsSrv.URL, edit: func(c *registration.FetcherConfig) { c.AllowPrivateAddresses = false }, want: registration.ErrForbiddenAddress},
		{name: "name resolving to loopback", srv: tlsSrv.Server, url: "https://localhost:" + port(tlsSrv.Server), edit: func(c *registration.FetcherConfig) { c.AllowPrivateAddresses = false }, want: registration.ErrForbiddenAddress},
		{name: "redirect to http", srv: toHTTP, url: toHTTP.URL, want: registration.ErrForbiddenURL},
		{name: "body over the cap", srv: big.Server, url: big.URL, want: registration.ErrFetch},
		{name: "status 404", srv: notFound, url: notFound.URL, want: registration.ErrFetch},
		{name: "no usable keys", srv: empty.Server, url: empty.URL, want: registration.ErrNoUsableKeys},
		{name: "not a JWK Set", srv: html.Server, url: html.URL, want: registration.ErrNoUsableKeys},
		{name: "untrusted certificate", url: tlsSrv.URL, want: registration.ErrFetch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := testFetcher(t, tc.srv, testclock.New(time.Unix(1e9, 0)), tc.edit)
			_, err := f.Get(t.Context(), tc.url)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestK8_ErrorsNotCached: a failed fetch does not poison the cache, and a
// success after it is served.
func TestK8_ErrorsNotCached(t *testing.T) {
	k := newTestKeys(t)
	doc := jwks(t, jwk(t, &k.p384.PublicKey, "ec", "ES384"))
	var fail atomic.Bool
	fail.Store(true)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	f := testFetcher(t, srv, testclock.New(time.Unix(1e9, 0)), nil)
	if _, err := f.Get(t.Context(), srv.URL); !errors.Is(err, registration.ErrFetch) {
		t.Fatalf("error = %v", err)
	}
	fail.Store(false)
	set, err := f.Get(t.Context(), srv.URL)
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("after recovery: %v, %v", set, err)
	}
	// The returned set is a copy: changing it does not change the cache.
	set.Keys[0].KeyID = "changed"
	again, err := f.Get(t.Context(), srv.URL)
	if err != nil || again.Keys[0].KeyID != "ec" {
		t.Fatalf("cache changed through a returned set: %v, %v", again, err)
	}
	f.Forget(srv.URL)
	fail.Store(true)
	if _, err := f.Get(t.Context(), srv.URL); !errors.Is(err, registration.ErrFetch) {
		t.Fatalf("Forget did not drop the entry: %v", err)
	}
}

func TestK8_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	f := testFetcher(t, srv, testclock.New(time.Unix(1e9, 0)), nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := f.Get(ctx, srv.URL); !errors.Is(err, registration.ErrFetch) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want ErrFetch wrapping context.Canceled", err)
	}
}

func TestK8_ConcurrentGets(t *testing.T) {
	k := newTestKeys(t)
	srv := newJWKSServer(t, jwks(t, jwk(t, &k.p384.PublicKey, "ec", "ES384")), http.Header{"Cache-Control": {"max-age=60"}})
	f := testFetcher(t, srv.Server, testclock.New(time.Unix(1e9, 0)), func(c *registration.FetcherConfig) { c.MaxEntries = 2 })
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			u := srv.URL + "/" + string(rune('a'+i%4))
			if _, err := f.Get(t.Context(), u); err != nil {
				t.Error(err)
			}
			f.Forget(u)
		})
	}
	wg.Wait()
}

func TestK8_TransportMustBeHTTPTransport(t *testing.T) {
	_, err := registration.NewFetcher(registration.FetcherConfig{Client: &http.Client{Transport: roundTripper(nil)}})
	if err == nil {
		t.Fatal("a transport whose dialing cannot be checked was accepted")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestK6_RefreshOnUnknownKid: Refresh refetches a cached set (key rotation)
// but not more often than MinRefreshInterval.
func TestK6_RefreshOnUnknownKid(t *testing.T) {
	k := newTestKeys(t)
	var rotated atomic.Bool
	old := jwks(t, jwk(t, &k.p384.PublicKey, "old", "ES384"))
	next := jwks(t, jwk(t, &k.p256.PublicKey, "new", "ES256"))
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		if rotated.Load() {
			_, _ = w.Write(next)
			return
		}
		_, _ = w.Write(old)
	}))
	t.Cleanup(srv.Close)
	c := testclock.New(time.Unix(1e9, 0))
	f := testFetcher(t, srv, c, func(cfg *registration.FetcherConfig) { cfg.MinRefreshInterval = 30 * time.Second })
	kid := func(get func(context.Context, string) (*jose.JSONWebKeySet, error)) string {
		t.Helper()
		set, err := get(t.Context(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return set.Keys[0].KeyID
	}
	if got := kid(f.Get); got != "old" {
		t.Fatalf("kid %s", got)
	}
	rotated.Store(true)
	c.Advance(10 * time.Second)
	if got := kid(f.Refresh); got != "old" || hits.Load() != 1 {
		t.Fatalf("refresh within MinRefreshInterval refetched: kid %s, hits %d", got, hits.Load())
	}
	c.Advance(20 * time.Second)
	if got := kid(f.Refresh); got != "new" || hits.Load() != 2 {
		t.Fatalf("refresh after MinRefreshInterval: kid %s, hits %d", got, hits.Load())
	}
	if got := kid(f.Get); got != "new" || hits.Load() != 2 {
		t.Fatalf("refreshed set not cached: kid %s, hits %d", got, hits.Load())
	}
}
