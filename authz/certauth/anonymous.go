package certauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/store"
)

// AnonymousScopesKey is the settings key of the anonymous account's
// scopes (no migration: the settings table holds it).
const AnonymousScopesKey = "anonymous_scopes"

// DefaultAnonymousScopes are the anonymous account's scopes until an
// administrator sets them: read and search. Whatever its scopes, the
// anonymous account reaches only resources of types that are in no
// patient's compartment, less a few that carry a patient's data or
// secrets outside it (Binary, Bundle, Task, Device, Subscription, Linkage);
// fhir/access enforces that ceiling (access.InPatientCompartment,
// access.AnonymousExcluded).
const DefaultAnonymousScopes = "system/*.rs"

// Settings is the part of the store the anonymous account's scopes live
// in (store/sqlite's settings table).
type Settings interface {
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

// Anonymous keeps the built-in anonymous account's scopes.
type Anonymous struct{ st Settings }

// NewAnonymous returns the anonymous account's scopes kept in st.
func NewAnonymous(st Settings) *Anonymous { return &Anonymous{st: st} }

// Scopes returns the administrator-set scopes, or DefaultAnonymousScopes.
func (a *Anonymous) Scopes(ctx context.Context) (string, error) {
	v, err := a.st.Setting(ctx, AnonymousScopesKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return DefaultAnonymousScopes, nil
	case err != nil:
		return "", fmt.Errorf("anonymous scopes: %w", err)
	}
	return string(v), nil
}

// SetScopes stores scopes (space-separated SMART scopes, v1 or v2; an
// empty string: the anonymous account may do nothing). A scope that does
// not parse is refused.
func (a *Anonymous) SetScopes(ctx context.Context, scopes string) error {
	if _, bad := smart.ParseScopes(scopes); len(bad) > 0 {
		return fmt.Errorf("anonymous scopes: %q is not a SMART scope", bad[0])
	}
	if err := a.st.PutSetting(ctx, AnonymousScopesKey, []byte(scopes)); err != nil {
		return fmt.Errorf("anonymous scopes: %w", err)
	}
	return nil
}
