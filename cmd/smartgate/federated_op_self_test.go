package main

// The fake OpenID provider of the federated tests checked with an
// OpenID client nobody here wrote (coreos/go-oidc and x/oauth2): its
// discovery, PKCE, code exchange and id_token work, and each knob breaks
// what it says, so that the server tests' refusals are the server's.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestFakeOPIsAnOpenIDProvider(t *testing.T) {
	op := newFakeOP(t, "self-test", "self-secret")
	ctx := context.Background()
	provider, err := gooidc.NewProvider(ctx, op.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: op.clientID, ClientSecret: op.secret, Endpoint: provider.Endpoint(),
		RedirectURL: "https://rp.example/cb", Scopes: []string{gooidc.ScopeOpenID, "email"}}
	verifier := provider.Verifier(&gooidc.Config{ClientID: op.clientID})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// login returns the verified id_token's nonce, or the first error.
	login := func(pkce string) (nonce string, err error) {
		v := oauth2.GenerateVerifier()
		resp, err := noFollow.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v), gooidc.Nonce("n-1")))
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		cb, _ := url.Parse(resp.Header.Get("Location"))
		if e := cb.Query().Get("error"); e != "" {
			return "", &oauth2.RetrieveError{ErrorCode: e}
		}
		if pkce != "" {
			v = pkce
		}
		tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			return "", err
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := verifier.Verify(ctx, raw)
		if err != nil {
			return "", err
		}
		return id.Nonce, nil
	}
	op.reset(opUser{sub: "s", email: "s@example.org", verified: true})
	if nonce, err := login(""); err != nil || nonce != "n-1" {
		t.Fatalf("a good log-in: %q, %v", nonce, err)
	}
	if _, err := login("a-wrong-verifier-of-forty-three-characters-x"); err == nil || !strings.Contains(err.Error(), "PKCE") {
		t.Errorf("a wrong PKCE verifier: %v", err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, knob := range map[string]func(op *fakeOP){
		"corrupt":   func(op *fakeOP) { op.corrupt = true },
		"other key": func(op *fakeOP) { op.otherKey = other },
		"aud":       func(op *fakeOP) { op.tamper = func(c map[string]any) { c["aud"] = "x" } },
		"iss":       func(op *fakeOP) { op.tamper = func(c map[string]any) { c["iss"] = "https://other.example" } },
		"exp":       func(op *fakeOP) { op.tamper = func(c map[string]any) { c["exp"] = int64(1) } },
		"deny":      func(op *fakeOP) { op.deny = true },
	} {
		op.reset(opUser{sub: "s"})
		op.set(knob)
		if _, err := login(""); err == nil {
			t.Errorf("%s: the log-in was verified", name)
		}
	}
}
