package authz

import (
	"context"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuers are this server's issuer identifiers: the public base URL of
// each listener (the iss of its tokens and ID tokens).
func (s *Server) Issuers() []string { return slices.Clone(s.cfg.BaseURLs) }

// IDTokenKeys returns the public keys that sign this server's ID tokens
// (the RS256 keys of the published JWKS, retired ones included while
// they are published), for a resource that verifies an ID token as a
// credential (authz/certauth). force reloads them from the store (at
// most every few seconds), for an unknown kid after a rotation by another
// process.
func (s *Server) IDTokenKeys(ctx context.Context, force bool) (*jose.JSONWebKeySet, error) {
	if force {
		kr := s.keys
		kr.mu.Lock()
		force = kr.now().Sub(kr.loadedAt) >= forceReloadEvery
		kr.mu.Unlock()
	}
	keys, err := s.keys.load(ctx, force)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		if k.Alg == AlgIDToken {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.ID, Algorithm: k.Alg, Use: "sig"})
		}
	}
	return &set, nil
}

// FetchJWKS fetches the key set at uri with the rules of client jwks_uri
// fetches: https only (plain http in lab mode, JWKSAllowPrivate), never
// from loopback, private or link-local addresses unless allowed, a
// timeout and a size cap, cached as Cache-Control allows (at most
// JWKSCacheTTL); force refetches, at most every 10 seconds per uri.
func (s *Server) FetchJWKS(ctx context.Context, uri string, force bool) (*jose.JSONWebKeySet, error) {
	return s.jwks.get(ctx, uri, force)
}
