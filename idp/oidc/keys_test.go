package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/smartgate/smartgate/idp"
)

// TestKeyRotation: a new kid makes the connector fetch the keys again,
// once; tokens with kids the provider never published fetch at most once
// per KeyRefresh however many arrive at once.
func TestKeyRotation(t *testing.T) {
	clk := newClock()
	p := newProvider(t, clk)
	conn := open(t, p.config())
	ctx := context.Background()
	login := func() error {
		st, q := authorize(t, conn)
		_, err := conn.HandleCallback(ctx, st, q)
		return err
	}
	if err := login(); err != nil {
		t.Fatal(err)
	}
	if n := p.hitsOf("jwks"); n != 1 {
		t.Fatalf("JWKS fetched %d times", n)
	}
	clk.Advance(KeyRefresh) // rotation is allowed to refresh
	k2 := ecKey(t, "k2")
	p.setKeys(k2)
	if err := login(); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if n := p.hitsOf("jwks"); n != 2 {
		t.Fatalf("JWKS fetched %d times after the rotation, want 2", n)
	}
	// A storm of tokens with an unknown kid, right after the refresh:
	// no fetch at all.
	rogue := ecKey(t, "k-unknown")
	p.set(func(p *provider) {
		p.idTokenFn = func(claims map[string]any) string { return sign(t, rogue, claims) }
	})
	storm := func(n int) {
		var wg sync.WaitGroup
		for range n {
			st, q := authorize(t, conn)
			wg.Go(func() {
				_, err := conn.HandleCallback(ctx, st, q)
				if !errors.Is(err, idp.ErrInvalidToken) {
					t.Errorf("unknown kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	storm(10)
	if n := p.hitsOf("jwks"); n != 2 {
		t.Fatalf("JWKS fetched %d times during the storm, want 2", n)
	}
	clk.Advance(KeyRefresh)
	storm(10)
	if n := p.hitsOf("jwks"); n != 3 {
		t.Fatalf("JWKS fetched %d times after KeyRefresh, want 3 (one refresh)", n)
	}
	// The provider still signs with k2: log-in works without a fetch.
	p.set(func(p *provider) { p.idTokenFn = nil })
	if err := login(); err != nil || p.hitsOf("jwks") != 3 {
		t.Fatalf("k2: %v, %d fetches", err, p.hitsOf("jwks"))
	}
}

func TestParseKeys(t *testing.T) {
	ec, rk := ecKey(t, "e"), rsaKey(t, "r")
	small := signKey{kid: "small", alg: jose.RS256}
	k1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	small.priv = k1024
	pub := func(k signKey) string { b, _ := k.public().MarshalJSON(); return string(b) }
	priv := func(k signKey) string {
		b, _ := (&jose.JSONWebKey{Key: k.priv, KeyID: k.kid}).MarshalJSON()
		return string(b)
	}
	cases := []struct {
		name string
		body string
		kids []string
	}{
		{"ec and rsa", `{"keys":[` + pub(ec) + `,` + pub(rk) + `]}`, []string{"e", "r"}},
		{"unknown and broken keys are skipped", `{"keys":[{"kty":"XYZ"},{"kty":"EC"},` + pub(ec) + `]}`, []string{"e"}},
		{"symmetric key skipped", `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"o"},` + pub(ec) + `]}`, []string{"e"}},
		{"private key skipped", `{"keys":[` + priv(ec) + `]}`, nil},
		{"RSA under 2048 bits skipped", `{"keys":[` + pub(small) + `]}`, nil},
		{"not JSON", `<html>`, nil},
		{"no keys", `{}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseKeys([]byte(tc.body))
			var kids []string
			for _, k := range keys {
				kids = append(kids, k.KeyID)
			}
			if len(tc.kids) == 0 {
				if err == nil {
					t.Fatalf("parsed %v", kids)
				}
				return
			}
			if err != nil || len(kids) != len(tc.kids) {
				t.Fatalf("keys %v, %v; want %v", kids, err, tc.kids)
			}
			for i := range kids {
				if kids[i] != tc.kids[i] {
					t.Errorf("keys %v, want %v", kids, tc.kids)
				}
			}
		})
	}
}
