// Package totp implements one-time passwords: HOTP (RFC 4226) and TOTP
// (RFC 6238), the secrets they use, the otpauth:// enrolment URI read by
// authenticator apps, and the parsing of a code typed by a person.
//
// The package is pure: it holds no state. Replay protection (a time step
// once accepted is never accepted again) needs storage and belongs to the
// caller (account.SecondFactors).
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"net/url"
	"strings"
	"time"
)

// Algorithm is the HMAC hash of a TOTP (RFC 6238 §1.2).
type Algorithm int

// The algorithms of RFC 6238. SHA1 is the one every authenticator app
// supports, and the one smartgate enrols.
const (
	SHA1 Algorithm = iota
	SHA256
	SHA512
)

// String is the algorithm's name in an otpauth:// URI.
func (a Algorithm) String() string {
	switch a {
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return "SHA1"
}

func (a Algorithm) hash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return sha1.New
}

// Params are a TOTP's parameters. The zero value is smartgate's (and the
// authenticator apps') default: SHA1, 6 digits, 30-second steps from the
// Unix epoch.
type Params struct {
	Algorithm Algorithm
	Digits    int           // 6 (default) to 10
	Period    time.Duration // the time step X (default 30s)
}

func (p Params) digits() int {
	if p.Digits <= 0 {
		return 6
	}
	return min(p.Digits, 10)
}

func (p Params) period() time.Duration {
	if p.Period <= 0 {
		return 30 * time.Second
	}
	return p.Period
}

// SecretSize is the length of a secret made by NewSecret: 160 bits, the
// output size of HMAC-SHA1, as RFC 4226 §4 recommends.
const SecretSize = 20

// NewSecret returns SecretSize random bytes from crypto/rand.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("totp: new secret: %w", err)
	}
	return b, nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// EncodeSecret is the secret as authenticator apps take it: base32 (RFC
// 4648) without padding.
func EncodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

// HOTP is the RFC 4226 one-time password of key at counter, with
// p.Digits digits and p.Algorithm as the HMAC hash (RFC 6238 §1.2 extends
// HOTP to SHA-256 and SHA-512).
func HOTP(key []byte, counter uint64, p Params) string {
	m := hmac.New(p.Algorithm.hash(), key)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // dynamic truncation, RFC 4226 §5.3
	bin := uint64(binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff)
	d := p.digits()
	mod := uint64(1)
	for range d {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", d, bin%mod)
}

// Step is the time step T of t (RFC 6238 §4.2): whole periods since the
// Unix epoch. Times before the epoch give step 0.
func Step(t time.Time, p Params) uint64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint64(s) / uint64(p.period()/time.Second)
}

// Code is the TOTP of key at time t.
func Code(key []byte, t time.Time, p Params) string { return HOTP(key, Step(t, p), p) }

// Match reports the time step within skew steps of now (either side) whose
// code equals code, preferring the earliest one. Every step in the window is
// computed and compared in constant time, so that the time taken does not
// tell which step (if any) matched. Steps at or before after are not
// candidates: that is the caller's replay protection (pass the last step
// accepted, or 0 when none was).
func Match(key []byte, code string, now time.Time, skew int, after uint64, p Params) (uint64, bool) {
	cur := Step(now, p)
	var found uint64
	ok := 0
	for i := -skew; i <= skew; i++ {
		if i < 0 && uint64(-i) > cur {
			continue
		}
		s := uint64(int64(cur) + int64(i))
		eq := subtle.ConstantTimeCompare([]byte(HOTP(key, s, p)), []byte(code))
		if s <= after { // the step's time is public; only the code is secret
			eq = 0
		}
		found = uint64(subtle.ConstantTimeSelect(eq&(1-ok), int(s), int(found)))
		ok |= eq
	}
	return found, ok == 1
}

// ParseCode reads a code as a person types it: exactly digits digits, or
// the same split in two halves by one space ("123 456", as authenticator
// apps display it). Anything else (other spaces, signs, letters, other
// lengths) is refused. It returns the bare digits.
func ParseCode(s string, digits int) (string, bool) {
	if digits <= 0 {
		digits = 6
	}
	if len(s) == digits+1 && digits%2 == 0 && s[digits/2] == ' ' {
		s = s[:digits/2] + s[digits/2+1:]
	}
	if len(s) != digits {
		return "", false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// URI is the otpauth:// key URI (the "Key Uri Format" of Google
// Authenticator, which every authenticator app reads, usually from a QR
// code) for account at issuer:
//
//	otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// Colons in issuer or account are percent-encoded (the colon separates
// them), and spaces are %20 in both parts.
func URI(issuer, account string, secret []byte, p Params) string {
	label := pathPart(issuer) + ":" + pathPart(account)
	q := "secret=" + EncodeSecret(secret) +
		"&issuer=" + queryPart(issuer) +
		"&algorithm=" + p.Algorithm.String() +
		fmt.Sprintf("&digits=%d&period=%d", p.digits(), int64(p.period()/time.Second))
	return "otpauth://totp/" + label + "?" + q
}

func pathPart(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// queryPart escapes s for the query; spaces become %20, not "+", which some
// authenticator apps show literally.
func queryPart(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
