package authz

import (
	"context"
	"fmt"
	"time"
)

// KeyInfo describes one of the server's signing keys without its private
// part, for the administrators' keys page.
type KeyInfo struct {
	ID, Alg string
	// CreatedAt is when the key was made; RetiredAt when a newer key of
	// its algorithm replaced it (zero while it signs).
	CreatedAt, RetiredAt time.Time
	// LeavesJWKS is when a retired key stops being published: RetiredAt
	// plus the longest token lifetime (access, id and backend tokens) and
	// ten minutes' margin (zero while it signs).
	LeavesJWKS time.Time
}

// Active reports whether the key signs new tokens.
func (k KeyInfo) Active() bool { return k.RetiredAt.IsZero() }

// Keys lists the stored signing keys, newest first.
func (s *Server) Keys(ctx context.Context) ([]KeyInfo, error) {
	stored, err := s.st.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: signing keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(stored))
	for _, k := range stored {
		ki := KeyInfo{ID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt}
		if !k.RetiredAt.IsZero() {
			ki.LeavesJWKS = k.RetiredAt.Add(s.keys.keepFor)
		}
		out = append(out, ki)
	}
	return out, nil
}

// RotateKeys does what `smartgate keys rotate` does (the package function
// RotateKeys) and then reloads the keyring, so that this server signs with
// the new keys at once instead of at its next reload.
func (s *Server) RotateKeys(ctx context.Context) error {
	if err := RotateKeys(ctx, s.st, s.cfg.Now()); err != nil {
		return err
	}
	if _, err := s.keys.load(ctx, true); err != nil {
		return fmt.Errorf("authz: reload signing keys: %w", err)
	}
	return nil
}
