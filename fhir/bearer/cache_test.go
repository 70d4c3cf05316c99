package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/internal/testclock"
)

// countingVerifier accepts every token until expires and counts the
// calls per token; the cache is what is under test, not the verifier.
type countingVerifier struct {
	mu       sync.Mutex
	calls    map[string]int
	expires  time.Time
	audience []string
}

func (v *countingVerifier) Verify(_ context.Context, tok string) (*access.Principal, time.Time, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.calls == nil {
		v.calls = map[string]int{}
	}
	v.calls[tok]++
	return &access.Principal{Subject: "s-" + tok, Audience: v.audience}, v.expires, nil
}

func (v *countingVerifier) total() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, c := range v.calls {
		n += c
	}
	return n
}

func authenticate(a *bearer.Authenticator, tok string) error {
	r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	_, err := a.Authenticate(r)
	return err
}

// TestCacheHoldsAtMostMaxEntries: after many tokens, at most MaxEntries of
// them are still trusted without the verifier (a second pass over them
// finds at most MaxEntries in the cache), and with room for all of them
// every one is.
func TestCacheHoldsAtMostMaxEntries(t *testing.T) {
	const tokens = 200
	for _, tc := range []struct {
		name       string
		maxEntries int
		maxHits    int
		minHits    int
	}{
		{"bounded", 16, 16, 0},
		{"room for all", 1000, tokens, tokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(time.Unix(1_900_000_000, 0))
			v := &countingVerifier{expires: clock.Now().Add(time.Hour)}
			a := bearer.New(v, nil, bearer.Options{MaxEntries: tc.maxEntries, Now: clock.Now})
			for i := range tokens {
				if err := authenticate(a, fmt.Sprint("t", i)); err != nil {
					t.Fatal(err)
				}
			}
			first := v.total()
			for i := range tokens {
				if err := authenticate(a, fmt.Sprint("t", i)); err != nil {
					t.Fatal(err)
				}
			}
			hits := tokens - (v.total() - first)
			if hits > tc.maxHits || hits < tc.minHits {
				t.Fatalf("second pass: %d cache hits, want %d..%d (MaxEntries %d)", hits, tc.minHits, tc.maxHits, tc.maxEntries)
			}
		})
	}
}

// TestCacheEntryLivesAtMostRevalidate: a token is asked about again once
// Revalidate (default 5 s) has passed since it was verified, or once it
// expires when that is sooner; never in between.
func TestCacheEntryLivesAtMostRevalidate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bound     time.Duration // Options.Revalidate
		expiresIn time.Duration
		lives     time.Duration // how long the entry is trusted
		expired   bool          // whether the token is refused at the end
	}{
		{"default bound", 0, time.Hour, 5 * time.Second, false},
		{"set bound", 2 * time.Second, time.Hour, 2 * time.Second, false},
		{"expiry before the bound", 0, 3 * time.Second, 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testclock.New(time.Unix(1_900_000_000, 0))
			v := &countingVerifier{expires: clock.Now().Add(tc.expiresIn)}
			a := bearer.New(v, nil, bearer.Options{Revalidate: tc.bound, Now: clock.Now})
			if err := authenticate(a, "tok"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.lives - time.Millisecond)
			if err := authenticate(a, "tok"); err != nil || v.total() != 1 {
				t.Fatalf("within the bound: err %v, %d verifier calls, want 1", err, v.total())
			}
			clock.Advance(time.Millisecond)
			err := authenticate(a, "tok")
			if v.total() != 2 {
				t.Fatalf("at the bound: %d verifier calls, want 2", v.total())
			}
			if tc.expired != errors.Is(err, fhir.ErrInvalidToken) {
				t.Fatalf("at the bound: err %v, want refused %v", err, tc.expired)
			}
		})
	}
}

// refusingVerifier refuses every token with err.
type refusingVerifier struct{ err error }

func (v refusingVerifier) Verify(context.Context, string) (*access.Principal, time.Time, error) {
	return nil, time.Time{}, v.err
}

// TestAuthenticateErrors: what Authenticate answers for each kind of bad
// request or token (the FHIR endpoint maps them to 401 and 503).
func TestAuthenticateErrors(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	ok := &countingVerifier{expires: now.Add(time.Hour), audience: []string{"https://h.example/fhir/"}}
	for _, tc := range []struct {
		name   string
		header string
		v      bearer.Verifier
		aud    []string
		want   error
	}{
		{"no header", "", ok, nil, fhir.ErrNoToken},
		{"not bearer", "Basic dXNlcjpwdw==", ok, nil, fhir.ErrInvalidToken},
		{"inactive", "Bearer x", refusingVerifier{fmt.Errorf("gone: %w", bearer.ErrInactive)}, nil, fhir.ErrInvalidToken},
		{"expired", "Bearer x", &countingVerifier{expires: now}, nil, fhir.ErrInvalidToken},
		{"other audience", "Bearer x", ok, []string{"https://other.example/fhir"}, fhir.ErrInvalidToken},
		{"audience without the slash", "Bearer x", ok, []string{"https://h.example/fhir"}, nil},
		{"no audiences configured", "Bearer x", ok, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := bearer.New(tc.v, nil, bearer.Options{Audiences: tc.aud, Now: func() time.Time { return now }})
			r := httptest.NewRequest(http.MethodGet, "/fhir/Patient", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			_, err := a.Authenticate(r)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRefusalsAreNotCached: a refused token is asked about again on its
// next use (only verified tokens are cached).
func TestRefusalsAreNotCached(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	v := &countingVerifier{expires: now.Add(time.Hour), audience: []string{"https://elsewhere.example/fhir"}}
	a := bearer.New(v, nil, bearer.Options{Audiences: []string{"https://h.example/fhir"}, Now: func() time.Time { return now }})
	for range 3 {
		if err := authenticate(a, "tok"); !errors.Is(err, fhir.ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrInvalidToken", err)
		}
	}
	if v.total() != 3 {
		t.Fatalf("%d verifier calls, want 3", v.total())
	}
}

// TestForgetSubject: after ForgetSubject, the next request with a token of
// that subject asks the verifier again; other subjects' tokens stay cached.
func TestForgetSubject(t *testing.T) {
	clock := testclock.New(time.Unix(1_900_000_000, 0))
	v := &countingVerifier{expires: clock.Now().Add(time.Hour)}
	a := bearer.New(v, nil, bearer.Options{Now: clock.Now})
	for _, tok := range []string{"a", "b", "a", "b"} {
		if err := authenticate(a, tok); err != nil {
			t.Fatal(err)
		}
	}
	a.ForgetSubject("s-a")
	a.ForgetSubject("")
	for _, tok := range []string{"a", "b"} {
		if err := authenticate(a, tok); err != nil {
			t.Fatal(err)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.calls["a"] != 2 || v.calls["b"] != 1 {
		t.Fatalf("verifier calls %v, want a twice (forgotten), b once", v.calls)
	}
}
