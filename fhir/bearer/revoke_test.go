package bearer_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/fhir/bearer"
)

// defaultBound is the revocation bound the package doc, README.md and
// docs/fhir-access.md promise: 5 s with the default Options.
const defaultBound = 5 * time.Second

// TestRevokedTokenStopsWithinBound: a token revoked at the authorization
// server (a person withdrawing an app, an account's grants ended) is
// refused on the FHIR endpoint as invalid_token at the latest once the
// default bound has passed since the revocation, also when it was used
// (and cached) just before.
func TestRevokedTokenStopsWithinBound(t *testing.T) {
	s := newStack(t, bearer.Options{})
	tok := s.owin("prac")
	s.wantStatus(tok, "Patient/p2", http.StatusOK, "before revocation")
	if err := s.as.RevokeGrants(context.Background(), s.users["prac"].ID, ""); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(defaultBound)
	code, h := s.get(tok, "Patient/p2")
	if code != http.StatusUnauthorized || !strings.Contains(h, `error="invalid_token"`) {
		t.Fatalf("revoked token %v after revocation: %d %q, want 401 invalid_token", defaultBound, code, h)
	}
}

// TestRevokedTokenWithShorterBound: Options.Revalidate is the bound.
func TestRevokedTokenWithShorterBound(t *testing.T) {
	s := newStack(t, bearer.Options{Revalidate: time.Second})
	tok := s.owin("prac")
	s.wantStatus(tok, "Patient/p2", http.StatusOK, "before revocation")
	if err := s.as.RevokeGrants(context.Background(), s.users["prac"].ID, ""); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(time.Second)
	s.wantStatus(tok, "Patient/p2", http.StatusUnauthorized, "1 s after revocation")
}

// TestDeactivatedAccountStopsWithinBound: the tokens of an account that is
// deactivated stop working within the bound, without being revoked.
func TestDeactivatedAccountStopsWithinBound(t *testing.T) {
	s := newStack(t, bearer.Options{})
	tok := s.owin("pat")
	s.wantStatus(tok, "Patient/p1", http.StatusOK, "active account")
	s.updateUser("pat", func(u *account.User) { u.Active = false })
	s.clock.Advance(defaultBound)
	s.wantStatus(tok, "Patient/p1", http.StatusUnauthorized, "deactivated account")
}

// TestAccountRolesDecideWithinBound: what a token's user/ scopes reach
// follows the account's current roles and fhirUser, not those of the
// token's issuance: a practitioner turned patient of p1 reads p1 only.
func TestAccountRolesDecideWithinBound(t *testing.T) {
	s := newStack(t, bearer.Options{})
	tok := s.owin("prac")
	s.wantStatus(tok, "Patient/p2", http.StatusOK, "practitioner")
	s.updateUser("prac", func(u *account.User) {
		u.Roles = []string{account.RolePatient}
		u.FHIRUser = "Patient/p1"
	})
	s.clock.Advance(defaultBound)
	s.wantStatus(tok, "Patient/p1", http.StatusOK, "now a patient, own record")
	if code, _ := s.get(tok, "Patient/p2"); code == http.StatusOK {
		t.Fatalf("now a patient: another patient's record answered %d", code)
	}
}

// TestExpiredTokenRefused: a token is refused once it expires, whatever
// the cache bound (the access-token lifetime is 1 h by default).
func TestExpiredTokenRefused(t *testing.T) {
	s := newStack(t, bearer.Options{Revalidate: 24 * time.Hour})
	tok := s.owin("prac")
	s.wantStatus(tok, "Patient/p2", http.StatusOK, "fresh token")
	s.clock.Advance(time.Hour)
	s.wantStatus(tok, "Patient/p2", http.StatusUnauthorized, "after its lifetime")
}
