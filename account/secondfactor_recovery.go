package account

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// Recovery codes: RecoveryCodeCount per account, each 16 characters of
// base32 (80 random bits) shown in four groups, "abcd-efgh-ijkl-mnop".
//
// Only a hash of each is stored: SHA-256 over the user id and the code.
// A slow password hash (argon2id) is not needed, because a code is not
// chosen by a person: with 80 random bits, a stolen table of hashes cannot
// be searched offline (2^80 SHA-256 computations), and online guesses are
// throttled like passwords. The user id in the hash keeps equal codes of two
// accounts apart and rules out one precomputed table for all accounts.

const (
	recoveryLen   = 16 // characters
	recoveryGroup = 4
)

// recoveryAlphabet is lower-case RFC 4648 base32 (no 0, 1, 8 or 9, so no
// 0/o or 1/l confusion).
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// newRecoveryCodes makes RecoveryCodeCount codes for the user and their
// hashes.
func newRecoveryCodes(userID string) (codes []string, hashes [][]byte, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, recoveryLen*5/8)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("account: recovery codes: %w", err)
		}
		raw := recoveryEncoding.EncodeToString(b)
		codes = append(codes, groupRecovery(raw))
		hashes = append(hashes, recoveryHash(userID, raw))
	}
	return codes, hashes, nil
}

func groupRecovery(raw string) string {
	var parts []string
	for i := 0; i < len(raw); i += recoveryGroup {
		parts = append(parts, raw[i:i+recoveryGroup])
	}
	return strings.Join(parts, "-")
}

// ParseRecoveryCode reads a recovery code as a person types it: its 16
// characters in either case, in groups of four separated by single hyphens
// or spaces, or ungrouped. It returns the bare lower-case characters.
func ParseRecoveryCode(s string) (string, bool) {
	if len(s) == recoveryLen+recoveryLen/recoveryGroup-1 {
		sep := s[recoveryGroup]
		if sep != '-' && sep != ' ' {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < len(s); i += recoveryGroup + 1 {
			if i > 0 && s[i-1] != sep {
				return "", false
			}
			b.WriteString(s[i : i+recoveryGroup])
		}
		s = b.String()
	}
	if len(s) != recoveryLen {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A' // ASCII only: strings.ToLower could change the length
			b[i] = c
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", false
		}
	}
	return string(b), true
}

// recoveryHash is the stored form of the user's recovery code raw (bare,
// lower case).
func recoveryHash(userID, raw string) []byte {
	h := sha256.New()
	h.Write([]byte("smartgate recovery code\x00"))
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(raw))
	return h.Sum(nil)
}
