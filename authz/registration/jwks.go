package registration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits on client JWK Sets (registered by value or fetched from jwks_uri).
const (
	MaxJWKSBytes = 64 << 10 // a registered jwks value or a fetched document
	MaxKeys      = 20       // keys in one set
	MinRSABits   = 2048     // NIST SP 800-57; SMART RS384 keys
	MaxRSABits   = 8192     // bounds verification cost
	maxRSAEBytes = 4        // public exponent up to 2^32-1
)

// isPrivateMember reports the JWK members that carry private or symmetric
// key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1): a client registers public
// keys only (SMART IG client-confidential-asymmetric: "public key").
func isPrivateMember(name string) bool {
	switch name {
	case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
		return true
	}
	return false
}

// ParseJWKS checks a client JWK Set registered by value (RFC 7591 §2 jwks;
// checklist DCR9, SMART IG client-confidential-asymmetric.html
// #registering-a-client) and returns its keys. Every key must be usable, or
// the set is refused with an *Error (CodeInvalidClientMetadata):
//
//   - the set is a JSON object with a "keys" array of 1 to MaxKeys keys,
//     at most MaxJWKSBytes;
//   - each key has "kty" and a non-empty "kid", unique in the set (RFC 7517
//     §4.5; SMART key selection is by kid, checklist K6);
//   - kty is RSA (with "n" and "e", modulus MinRSABits..MaxRSABits bits) or
//     EC (with "crv" P-256, P-384 or P-521, "x" and "y", a point on the curve);
//   - no private or symmetric members (d, p, q, dp, dq, qi, oth, k);
//   - "alg", when present, is RS256, RS384, ES256 or ES384 and fits the key
//     (RS* for RSA, ES256 for P-256, ES384 for P-384; checklist K7);
//   - "use", when present, is "sig";
//   - x5c, when present, matches the key (go-jose checks RFC 7517 §4.7).
func ParseJWKS(data []byte) (jose.JSONWebKeySet, error) {
	if len(data) > MaxJWKSBytes {
		return jose.JSONWebKeySet{}, errorf(CodeInvalidClientMetadata, "jwks larger than %d bytes", MaxJWKSBytes)
	}
	keys, problem := setKeys(data)
	if problem != "" {
		return jose.JSONWebKeySet{}, errorf(CodeInvalidClientMetadata, "jwks %s", problem)
	}
	if len(keys) == 0 {
		return jose.JSONWebKeySet{}, errorf(CodeInvalidClientMetadata, "jwks has no keys")
	}
	if len(keys) > MaxKeys {
		return jose.JSONWebKeySet{}, errorf(CodeInvalidClientMetadata, "jwks has more than %d keys", MaxKeys)
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for i, raw := range keys {
		k, problem := parseKey(raw)
		if problem != "" {
			return jose.JSONWebKeySet{}, errorf(CodeInvalidClientMetadata, "jwks key %d: %s", i, problem)
		}
		for _, o := range set.Keys {
			if o.KeyID == k.KeyID {
				return jose.JSONWebKeySet{}, errorf(CodeInvalidClientMetadata, "jwks key %d: kid %s is not unique", i, quote(k.KeyID))
			}
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}

// setKeys returns the members of a JWK Set's "keys" array (RFC 7517 §5),
// matched by exact name.
func setKeys(data []byte) ([]json.RawMessage, string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return nil, "is not a JSON object"
	}
	raw, ok := members["keys"]
	if !ok {
		return nil, `has no "keys" member (RFC 7517 §5)`
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, `member "keys" is not an array`
	}
	return keys, ""
}

// parseKey checks one public signature key (see ParseJWKS) and returns it,
// or a description of its problem. The description names JWK members and
// never includes key material or library error text.
func parseKey(raw json.RawMessage) (jose.JSONWebKey, string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return jose.JSONWebKey{}, "is not a JSON object"
	}
	for name := range members {
		if isPrivateMember(name) {
			return jose.JSONWebKey{}, "contains the private or symmetric key member " + strconv.Quote(name) + "; register public keys only"
		}
	}
	kty, problem := stringMember(members, "kty")
	if problem != "" {
		return jose.JSONWebKey{}, problem
	}
	kid, problem := stringMember(members, "kid")
	if problem != "" {
		return jose.JSONWebKey{}, problem
	}
	if len(kid) > MaxTextLength {
		return jose.JSONWebKey{}, "kid is too long"
	}
	if kty != "RSA" && kty != "EC" {
		return jose.JSONWebKey{}, "kty " + quote(kty) + " is not supported; use RSA or EC"
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(raw); err != nil {
		return jose.JSONWebKey{}, "is not a valid " + kty + " public key (RFC 7518 §6)"
	}
	if !k.IsPublic() || !k.Valid() {
		return jose.JSONWebKey{}, "is not a public key"
	}
	if k.Use != "" && k.Use != "sig" {
		return jose.JSONWebKey{}, `use must be "sig"`
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return jose.JSONWebKey{}, fmt.Sprintf("RSA modulus must have %d to %d bits", MinRSABits, MaxRSABits)
		}
		e, _ := stringMember(members, "e")
		eb, err := base64.RawURLEncoding.DecodeString(e)
		eb = bytes.TrimLeft(eb, "\x00")
		if err != nil || len(eb) > maxRSAEBytes || pub.E < 3 || pub.E%2 == 0 {
			return jose.JSONWebKey{}, "RSA public exponent is not valid"
		}
		switch k.Algorithm {
		case "", string(jose.RS256), string(jose.RS384):
		default:
			return jose.JSONWebKey{}, "alg " + quote(k.Algorithm) + " is not allowed for an RSA key; use RS384 or RS256"
		}
	case *ecdsa.PublicKey:
		curve := pub.Curve.Params().Name
		switch {
		case k.Algorithm == "":
		case k.Algorithm == string(jose.ES256) && curve == "P-256":
		case k.Algorithm == string(jose.ES384) && curve == "P-384":
		default:
			return jose.JSONWebKey{}, "alg " + quote(k.Algorithm) + " is not allowed for an EC " + curve + " key; use ES384 with P-384 or ES256 with P-256"
		}
	default:
		return jose.JSONWebKey{}, "is not an RSA or EC public key"
	}
	return k, ""
}

// stringMember returns a required, non-empty string member.
func stringMember(members map[string]json.RawMessage, name string) (string, string) {
	raw, ok := members[name]
	if !ok {
		return "", "has no " + strconv.Quote(name) + " (RFC 7517 §4)"
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", strconv.Quote(name) + " must be a non-empty string"
	}
	return s, ""
}
