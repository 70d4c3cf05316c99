package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"

	"github.com/smartgate/smartgate/store"
)

// Signing algorithms of the server's own keys: ES256 for access tokens
// (fast), RS256 for id_tokens (what SMART and OIDC clients must support).
const (
	AlgAccessToken = "ES256"
	AlgIDToken     = "RS256"
)

// RotateKeys makes a new ES256 and RS256 signing key and retires the
// current ones; retired public keys stay in the JWKS until every token they
// signed has expired. `smartgate keys rotate` calls it.
func RotateKeys(ctx context.Context, st KeyStore, now time.Time) error {
	for _, alg := range []string{AlgAccessToken, AlgIDToken} {
		k, err := newSigningKey(alg, now)
		if err != nil {
			return err
		}
		if err := st.AddSigningKey(ctx, k, false); err != nil {
			return fmt.Errorf("authz: rotate %s key: %w", alg, err)
		}
	}
	return nil
}

func newSigningKey(alg string, now time.Time) (SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return SigningKey{}, fmt.Errorf("authz: unsupported key algorithm %q", alg)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("authz: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return SigningKey{}, fmt.Errorf("authz: encode %s key: %w", alg, err)
	}
	jwk := jose.JSONWebKey{Key: priv.Public()}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return SigningKey{}, fmt.Errorf("authz: thumbprint: %w", err)
	}
	return SigningKey{ID: b64(tp[:12]), Alg: alg, PrivateDER: der, CreatedAt: now.UTC()}, nil
}

// loadedKey is a parsed SigningKey.
type loadedKey struct {
	SigningKey
	priv crypto.Signer
}

// keyring caches the parsed signing keys and reloads them from the store
// (another process may have rotated them) at most every reloadEvery.
type keyring struct {
	st          KeyStore
	now         func() time.Time
	rotateEvery time.Duration
	keepFor     time.Duration // how long a retired key stays published
	reloadEvery time.Duration

	mu       sync.Mutex
	loadedAt time.Time
	keys     []loadedKey // newest first
}

// forceReloadEvery bounds how often an unknown kid forces a reload.
const forceReloadEvery = 10 * time.Second

func (kr *keyring) load(ctx context.Context, force bool) ([]loadedKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	now := kr.now()
	if !force && kr.keys != nil && now.Sub(kr.loadedAt) < kr.reloadEvery && now.After(kr.loadedAt) {
		return kr.keys, nil
	}
	for attempt := 0; ; attempt++ {
		stored, err := kr.st.SigningKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("authz: load signing keys: %w", err)
		}
		missing := false
		for _, alg := range []string{AlgAccessToken, AlgIDToken} {
			var active *SigningKey
			for i := range stored {
				if stored[i].Alg == alg && stored[i].RetiredAt.IsZero() {
					active = &stored[i]
					break
				}
			}
			switch {
			case active == nil:
				k, err := newSigningKey(alg, now)
				if err != nil {
					return nil, err
				}
				if err := kr.st.AddSigningKey(ctx, k, true); err != nil && !errors.Is(err, store.ErrConflict) {
					return nil, fmt.Errorf("authz: first %s key: %w", alg, err)
				}
				missing = true
			case kr.rotateEvery > 0 && now.Sub(active.CreatedAt) > kr.rotateEvery:
				k, err := newSigningKey(alg, now)
				if err != nil {
					return nil, err
				}
				if err := kr.st.AddSigningKey(ctx, k, false); err != nil {
					return nil, fmt.Errorf("authz: scheduled %s key rotation: %w", alg, err)
				}
				missing = true
			}
		}
		if missing && attempt == 0 {
			continue
		}
		keys := make([]loadedKey, 0, len(stored))
		for _, k := range stored {
			if !k.RetiredAt.IsZero() && now.Sub(k.RetiredAt) > kr.keepFor {
				continue
			}
			p, err := x509.ParsePKCS8PrivateKey(k.PrivateDER)
			if err != nil {
				return nil, fmt.Errorf("authz: parse signing key %s: %w", k.ID, err)
			}
			s, ok := p.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("authz: signing key %s is not a signer", k.ID)
			}
			keys = append(keys, loadedKey{SigningKey: k, priv: s})
		}
		kr.keys, kr.loadedAt = keys, now
		return keys, nil
	}
}

// signer returns the active key for alg.
func (kr *keyring) signer(ctx context.Context, alg string) (loadedKey, error) {
	keys, err := kr.load(ctx, false)
	if err != nil {
		return loadedKey{}, err
	}
	for _, k := range keys {
		if k.Alg == alg && k.RetiredAt.IsZero() {
			return k, nil
		}
	}
	return loadedKey{}, fmt.Errorf("authz: no active %s key", alg)
}

// public returns the published key set.
func (kr *keyring) public(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := kr.load(ctx, false)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.ID, Algorithm: k.Alg, Use: "sig"})
	}
	return set, nil
}

// verificationKey returns the public key with kid (reloading once when the
// kid is unknown, e.g. after a rotation by another process).
func (kr *keyring) verificationKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	for _, force := range []bool{false, true} {
		if force {
			kr.mu.Lock()
			recent := kr.now().Sub(kr.loadedAt) < forceReloadEvery
			kr.mu.Unlock()
			if recent {
				break
			}
		}
		keys, err := kr.load(ctx, force)
		if err != nil {
			return nil, "", err
		}
		for _, k := range keys {
			if k.ID == kid {
				return k.priv.Public(), k.Alg, nil
			}
		}
	}
	return nil, "", fmt.Errorf("authz: unknown key id %q", kid)
}

// idTokenSigner signs id_tokens with the active RS256 key and decodes them
// (id_token_hint) with any published key, so that hints from before a
// rotation still work.
type idTokenSigner struct {
	*jwt.DefaultSigner
	keys *keyring
}

func (s *idTokenSigner) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, alg, err := s.keys.verificationKey(ctx, kid)
		if err != nil || alg != AlgIDToken {
			return nil, fmt.Errorf("authz: id_token key %q: %w", kid, errors.Join(err, errors.New("not an id_token key")))
		}
		return pub, nil
	})
}
