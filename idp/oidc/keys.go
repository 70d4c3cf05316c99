package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smartgate/smartgate/idp"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keySet is the provider's signing keys (an oidc.KeySet): fetched at
// first use, cached, and fetched again on a kid it does not know, at
// most once per KeyRefresh however many tokens carry unknown kids. A
// token whose kid is known but whose signature does not verify with that
// key is refused without a fetch. go-oidc's RemoteKeySet fetches on every
// unknown kid, which lets anyone make us hammer the provider.
type keySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	algs   []jose.SignatureAlgorithm
	report func(error) // the result of each fetch (Status)

	fetching chan struct{} // holds one token while keys are fetched
	mu       sync.Mutex    // guards the fields below
	keys     []jose.JSONWebKey
	tried    time.Time // when keys were last fetched (zero: never)
	gen      int       // counts fetches
	lastErr  error     // the last fetch's error, or nil
}

func newKeySet(url string, client *http.Client, now func() time.Time, algs []string, report func(error)) *keySet {
	return &keySet{url: url, client: client, now: now, algs: joseAlgs(algs), report: report,
		fetching: make(chan struct{}, 1)}
}

// fetchNote carries, in a verification's context, the error of a key
// fetch made during it: go-oidc's verifier flattens VerifySignature's
// error into text, and an unreachable key endpoint is ErrUnavailable, not
// a bad token.
type fetchNote struct{ err error }

type fetchNoteKey struct{}

func noteFetch(ctx context.Context, err error) {
	if n, ok := ctx.Value(fetchNoteKey{}).(*fetchNote); ok && err != nil {
		n.err = err
	}
}

// errRateLimited: the keys were fetched too recently to fetch them again.
var errRateLimited = errors.New("keys fetched too recently")

// VerifySignature verifies the compact JWS jwt with the provider's keys
// and returns its payload.
func (ks *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed jws: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not one signature")
	}
	h := jws.Signatures[0].Protected
	keys, gen, tried := ks.snapshot()
	if tried.IsZero() {
		if err := ks.refresh(ctx, false); err != nil {
			noteFetch(ctx, err)
			return nil, err
		}
		keys, gen, _ = ks.snapshot()
	}
	payload, known, ok := verifyWith(jws, keys, h.KeyID, h.Algorithm)
	if ok {
		return payload, nil
	}
	if known {
		return nil, fmt.Errorf("the signature does not verify with key %q", idp.CleanText(h.KeyID, 64))
	}
	// Unknown kid (or no kid and no key verifies): perhaps the provider
	// rotated its keys. Fetch them, unless another call has since.
	if err := ks.refreshAfter(ctx, gen); err != nil {
		if !errors.Is(err, errRateLimited) {
			noteFetch(ctx, err)
			return nil, err
		}
		if last := ks.last(); last != nil {
			// The last fetch failed: the kid may well exist.
			noteFetch(ctx, last)
			return nil, last
		}
		return nil, fmt.Errorf("no key %q in the provider's keys", idp.CleanText(h.KeyID, 64))
	}
	keys, _, _ = ks.snapshot()
	if payload, _, ok := verifyWith(jws, keys, h.KeyID, h.Algorithm); ok {
		return payload, nil
	}
	return nil, fmt.Errorf("no key %q in the provider's keys verifies the signature", idp.CleanText(h.KeyID, 64))
}

func (ks *keySet) snapshot() ([]jose.JSONWebKey, int, time.Time) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.keys, ks.gen, ks.tried
}

func (ks *keySet) last() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.lastErr
}

// verifyWith tries the keys that may have signed jws (kid and alg match,
// use sig); known reports that a key carries kid.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid, alg string) (payload []byte, known, ok bool) {
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		known = kid != ""
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != alg) {
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			return p, known, true
		}
	}
	return nil, known, false
}

// refreshAfter fetches the keys unless they were fetched since the
// caller's snapshot gen (then the caller retries with those) or less than
// KeyRefresh ago (errRateLimited).
func (ks *keySet) refreshAfter(ctx context.Context, gen int) error {
	return ks.fetchIf(ctx, func() error {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.gen != gen {
			return errFetchedMeanwhile
		}
		if !ks.tried.IsZero() && ks.now().Sub(ks.tried) < KeyRefresh {
			return errRateLimited
		}
		return nil
	})
}

var errFetchedMeanwhile = errors.New("keys fetched meanwhile")

// refresh fetches the keys: always when force (Check), else only when
// they were never fetched.
func (ks *keySet) refresh(ctx context.Context, force bool) error {
	return ks.fetchIf(ctx, func() error {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if !force && !ks.tried.IsZero() {
			return errFetchedMeanwhile
		}
		return nil
	})
}

// fetchIf fetches the keys, one fetch at a time, when due (checked once
// the caller's turn has come) returns nil. A fetch the caller gave up on
// is not recorded.
func (ks *keySet) fetchIf(ctx context.Context, due func() error) error {
	select {
	case ks.fetching <- struct{}{}:
		defer func() { <-ks.fetching }()
	case <-ctx.Done():
		return fmt.Errorf("keys: %v", ctx.Err())
	}
	if err := due(); err != nil {
		if errors.Is(err, errFetchedMeanwhile) {
			return nil
		}
		return err
	}
	keys, err := ks.fetch(ctx)
	if err != nil && ctx.Err() != nil {
		return err
	}
	ks.mu.Lock()
	ks.tried = ks.now()
	ks.gen++
	ks.lastErr = err
	if err == nil {
		ks.keys = keys
	}
	ks.mu.Unlock()
	ks.report(err)
	return err
}

// fetch gets and parses the JWKS; keys it cannot use are skipped, and a
// set with no usable key is an error (the cached keys stay).
func (ks *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("keys: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keys: %s", idp.CleanText(err.Error(), 300))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %s", ks.url, idp.CleanText(err.Error(), 100))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("keys: %s answered %s", ks.url, idp.CleanText(resp.Status, 60))
	}
	keys, err := parseKeys(body)
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %v", ks.url, err)
	}
	return keys, nil
}

// parseKeys parses a JWKS, keeping the public signature keys it can use
// (RSA of 2048 bits or more, EC, Ed25519) and skipping the others.
func parseKeys(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON key set: %s", idp.CleanText(err.Error(), 100))
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || !k.Valid() || !k.IsPublic() {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < 2048 {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signature key")
	}
	return keys, nil
}
