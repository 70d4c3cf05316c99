package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams are the OWASP Password Storage Cheat Sheet minimum for
// argon2id: m=19 MiB, t=2, p=1, with a 16-byte salt and a 32-byte hash.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters accepted from a stored hash, so that a tampered or
// foreign hash cannot make verification allocate without limit.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 20
	maxKeyLen  = 128
	maxSaltLen = 64
)

// Password policy (NIST SP 800-63B §5.1.1.2): at least MinPasswordLength
// characters, at most MaxPasswordLength, any characters including spaces,
// and not the user name. No composition rules; no forced rotation.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// ErrWeakPassword is returned by CheckPassword.
var ErrWeakPassword = errors.New("account: password does not meet the policy")

// CheckPassword applies the password policy for an account named userName.
func CheckPassword(userName, password string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPasswordLength)
	}
	if n > MaxPasswordLength {
		return fmt.Errorf("%w: at most %d characters", ErrWeakPassword, MaxPasswordLength)
	}
	if userName != "" && strings.EqualFold(strings.TrimSpace(password), userName) {
		return fmt.Errorf("%w: must differ from the user name", ErrWeakPassword)
	}
	return nil
}

// Hasher hashes and verifies passwords with argon2id. At most a configured
// number of hashes are computed at once (each holds Params.Memory KiB); other
// callers wait, or give up when their context ends, so that a burst of log-ins
// cannot exhaust memory.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string
}

// NewHasher returns a Hasher with params (zero value: DefaultParams) and at
// most maxConcurrent hashes in flight (<= 0: 4).
func NewHasher(params Params, maxConcurrent int) *Hasher {
	if params == (Params{}) {
		params = DefaultParams
	}
	if params.SaltLen == 0 {
		params.SaltLen = 16
	}
	if params.KeyLen == 0 {
		params.KeyLen = 32
	}
	if params.Threads == 0 {
		params.Threads = 1
	}
	if maxConcurrent <= 0 {
		maxConcurrent = 4
	}
	h := &Hasher{params: params, sem: make(chan struct{}, maxConcurrent)}
	salt := make([]byte, params.SaltLen)
	rand.Read(salt)
	h.dummy = encode(params, salt, make([]byte, params.KeyLen))
	return h
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("account: waiting to hash a password: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// Hash returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// ErrBadHash is returned for stored hashes that are not argon2id PHC strings
// within the accepted bounds.
var ErrBadHash = errors.New("account: unsupported password hash")

func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrBadHash
	}
	var m, t, th uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, ErrBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, ErrBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			th = n
		default:
			return p, nil, nil, ErrBadHash
		}
	}
	if m < 8 || m > maxMemory || t < 1 || t > maxTime || th < 1 || th > 255 || m < 8*th {
		return p, nil, nil, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > maxSaltLen || len(key) < 16 || len(key) > maxKeyLen {
		return p, nil, nil, ErrBadHash
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

// Verify reports whether password matches the PHC string encoded, comparing
// in constant time. An empty encoded (an account without a password) is
// checked against a dummy hash so that the time taken does not tell whether
// the account has a password; the answer is then false.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	real := encoded != ""
	if !real {
		encoded = h.dummy
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	ok := subtle.ConstantTimeCompare(got, key) == 1
	return ok && real, nil
}

// NeedsRehash reports whether encoded was made with parameters other than
// the Hasher's (so it can be upgraded at the next successful log-in).
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		p.KeyLen != h.params.KeyLen
}

// NewLocalUser builds an active account with a local password: the user
// name is normalised, the password checked against the policy and hashed,
// roles and fhirUser validated. The caller stores it (Users.CreateUser).
func NewLocalUser(ctx context.Context, h *Hasher, userName, password string, roles []string, fhirUser string) (*User, error) {
	u := &User{UserName: userName, Active: true, Roles: roles, FHIRUser: fhirUser}
	if password == "" {
		return nil, CheckPassword(userName, password)
	}
	if err := prepareUser(ctx, h, u, password); err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword checks password against the policy and stores its hash in u
// (the caller saves u).
func SetPassword(ctx context.Context, h *Hasher, u *User, password string) error {
	if err := CheckPassword(u.UserName, password); err != nil {
		return err
	}
	hash, err := h.Hash(ctx, password)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	return nil
}
