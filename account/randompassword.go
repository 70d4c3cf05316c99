package account

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// RandomPassword returns a new random password that meets the policy: 18
// bytes from crypto/rand as 24 base64url characters (144 bits). It is the
// one generator of passwords someone is shown once (the first-start
// administrator, the demo log-ins, an administrator's reset on the people
// pages).
func RandomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("account: random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
