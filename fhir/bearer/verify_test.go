package bearer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/store"
)

// TestAuthzVerifierPrincipal: whom a real token speaks for, as the FHIR
// endpoint sees it.
func TestAuthzVerifierPrincipal(t *testing.T) {
	s := newStack(t, bearer.Options{})
	ctx := context.Background()
	accounts := authz.Accounts{Store: s.db}
	v := bearer.AuthzVerifier{Tokens: s.as, Accounts: accounts}

	t.Run("OWin patient token", func(t *testing.T) {
		p, exp, err := v.Verify(ctx, s.owin("pat"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Subject != s.users["pat"].ID || p.System || p.Patient != "p1" || p.FHIRUser != "Patient/p1" ||
			!slices.Equal(p.Roles, []string{account.RolePatient}) || !slices.Contains(p.Audience, s.base+"/fhir") {
			t.Fatalf("principal = %+v", p)
		}
		if want := s.clock.Now().Add(time.Hour); !exp.Equal(want) {
			t.Fatalf("expiry %v, want %v", exp, want)
		}
	})
	t.Run("client_credentials token speaks for the client", func(t *testing.T) {
		c, secret, err := authz.CreateClient(ctx, s.db, authz.NewClient{Name: "Lab", GrantTypes: []string{"client_credentials"},
			Scopes: []string{"system/*.rs"}, AllowSystemScopes: true}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tok := s.token(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, c.ID, secret)
		p, _, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !p.System || p.ClientID != c.ID || p.Roles != nil || p.Scopes.String() != "system/*.rs" {
			t.Fatalf("principal = %+v", p)
		}
	})
	t.Run("account's current roles and fhirUser", func(t *testing.T) {
		tok := s.owin("prac")
		s.updateUser("prac", func(u *account.User) { u.Roles = []string{account.RoleAdmin}; u.FHIRUser = "Practitioner/x" })
		p, _, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Roles, []string{account.RoleAdmin}) || p.FHIRUser != "Practitioner/x" {
			t.Fatalf("principal = %+v, want the account's admin role and fhirUser", p)
		}
		// Without Accounts the token's own (issuance-time) roles stand.
		p, _, err = bearer.AuthzVerifier{Tokens: s.as}.Verify(ctx, tok)
		if err != nil || !slices.Equal(p.Roles, []string{account.RolePractitioner}) {
			t.Fatalf("without Accounts: %+v %v", p, err)
		}
	})
	t.Run("deactivated account is inactive", func(t *testing.T) {
		tok := s.owin("pat")
		s.updateUser("pat", func(u *account.User) { u.Active = false })
		if _, _, err := v.Verify(ctx, tok); !errors.Is(err, bearer.ErrInactive) {
			t.Fatalf("err = %v, want ErrInactive", err)
		}
	})
	t.Run("unknown token is inactive", func(t *testing.T) {
		if _, _, err := v.Verify(ctx, "not-a-token"); !errors.Is(err, bearer.ErrInactive) {
			t.Fatalf("err = %v, want ErrInactive", err)
		}
	})
	t.Run("accounts unavailable is not inactive", func(t *testing.T) {
		tok := s.owin("prac")
		_, _, err := bearer.AuthzVerifier{Tokens: s.as, Accounts: downAccounts{}}.Verify(ctx, tok)
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, bearer.ErrInactive) {
			t.Fatalf("err = %v, want store.ErrUnavailable and not ErrInactive", err)
		}
	})
}

// downAccounts is an account store that cannot answer now.
type downAccounts struct{}

func (downAccounts) Claims(context.Context, string) (authz.UserClaims, error) {
	return authz.UserClaims{}, fmt.Errorf("accounts: %w", store.ErrUnavailable)
}

// TestAuthenticateUnavailablePassesThrough: when the accounts cannot be
// read, Authenticate says so (the FHIR endpoint answers 503), and does not
// call the token invalid (it may be good).
func TestAuthenticateUnavailablePassesThrough(t *testing.T) {
	s := newStack(t, bearer.Options{})
	tok := s.owin("prac")
	a := bearer.New(bearer.AuthzVerifier{Tokens: s.as, Accounts: downAccounts{}}, nil, bearer.Options{})
	req, _ := http.NewRequest(http.MethodGet, s.base+"/fhir/Patient", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, err := a.Authenticate(req); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, fhir.ErrInvalidToken) {
		t.Fatalf("Authenticate: %v, want store.ErrUnavailable and not fhir.ErrInvalidToken", err)
	}
}
