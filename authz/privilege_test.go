package authz_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store"
)

type clientMap map[string]*authz.Client

func (m clientMap) GetClient(_ context.Context, id string) (*authz.Client, error) {
	if c, ok := m[id]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

type rolesNow map[string][]string

func (m rolesNow) Claims(_ context.Context, sub string) (authz.UserClaims, error) {
	roles, ok := m[sub]
	if !ok {
		return authz.UserClaims{}, fmt.Errorf("account %q: %w", sub, store.ErrNotFound)
	}
	return authz.UserClaims{Subject: sub, Roles: roles}, nil
}

// TestPrivilegeCaller crosses the one rule of administrators' privileges
// (SCIM, launch:create) with every kind of token: grant, the scope, the
// client's flag and state now, and the account's roles now.
func TestPrivilegeCaller(t *testing.T) {
	clients := clientMap{
		"ehr":      {ID: "ehr", AllowLaunchCreate: true, AllowSCIM: true},
		"plain":    {ID: "plain"},
		"disabled": {ID: "disabled", AllowLaunchCreate: true, AllowSCIM: true, Disabled: true},
		"pending":  {ID: "pending", AllowLaunchCreate: true, AllowSCIM: true, Pending: true},
	}
	accounts := rolesNow{"admin": {"admin"}, "demoted": {"practitioner"}, "doc": {"practitioner"}, "pat": nil}
	type want int
	const (
		admin want = iota
		client
		forbidden
		inactive
	)
	cases := []struct {
		name string
		ti   authz.TokenInfo
		want want
	}{
		{"OWin of an administrator", authz.TokenInfo{Grant: "password", Subject: "admin", Roles: []string{"admin"}}, admin},
		{"OWin of an administrator demoted since", authz.TokenInfo{Grant: "password", Subject: "demoted", Roles: []string{"admin"}}, forbidden},
		{"OWin of a deleted administrator", authz.TokenInfo{Grant: "password", Subject: "gone", Roles: []string{"admin"}}, inactive},
		{"OWin of a practitioner", authz.TokenInfo{Grant: "password", Subject: "doc", Roles: []string{"practitioner"}}, forbidden},
		{"OWin of a patient", authz.TokenInfo{Grant: "password", Subject: "pat"}, forbidden},
		{"client token with the scope, allowed", authz.TokenInfo{Grant: "client_credentials", Subject: "ehr", ClientID: "ehr", Scopes: []string{"scim", "launch:create"}}, client},
		{"client token without the scope", authz.TokenInfo{Grant: "client_credentials", Subject: "ehr", ClientID: "ehr", Scopes: []string{"system/*.rs"}}, forbidden},
		{"client token, client not allowed", authz.TokenInfo{Grant: "client_credentials", Subject: "plain", ClientID: "plain", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"client token, client disabled", authz.TokenInfo{Grant: "client_credentials", Subject: "disabled", ClientID: "disabled", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"client token, client pending", authz.TokenInfo{Grant: "client_credentials", Subject: "pending", ClientID: "pending", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"client token, client deleted", authz.TokenInfo{Grant: "client_credentials", Subject: "gone", ClientID: "gone", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"user token of an administrator with the scope", authz.TokenInfo{Grant: "authorization_code", Subject: "admin", ClientID: "ehr", Scopes: []string{"scim", "launch:create"}}, admin},
		{"user token of an administrator without the scope", authz.TokenInfo{Grant: "authorization_code", Subject: "admin", ClientID: "ehr", Scopes: []string{"user/*.cruds"}}, forbidden},
		{"user token of a practitioner with the scope", authz.TokenInfo{Grant: "authorization_code", Subject: "doc", ClientID: "ehr", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"user token of a patient with the scope", authz.TokenInfo{Grant: "authorization_code", Subject: "pat", ClientID: "ehr", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"user token of a demoted administrator", authz.TokenInfo{Grant: "authorization_code", Subject: "demoted", ClientID: "ehr", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"user token of an administrator, app not allowed", authz.TokenInfo{Grant: "authorization_code", Subject: "admin", ClientID: "plain", Scopes: []string{"scim", "launch:create"}}, forbidden},
		{"user token of a deleted account", authz.TokenInfo{Grant: "authorization_code", Subject: "gone", ClientID: "ehr", Scopes: []string{"scim", "launch:create"}}, inactive},
	}
	for _, p := range []authz.Privilege{authz.PrivilegeSCIM, authz.PrivilegeLaunchCreate} {
		for _, c := range cases {
			pc, err := p.Caller(context.Background(), &c.ti, clients, accounts)
			var got want
			switch {
			case errors.Is(err, authz.ErrNotPrivileged):
				got = forbidden
			case errors.Is(err, authz.ErrInactiveToken):
				got = inactive
			case err != nil:
				t.Fatalf("%s %s: %v", p.Scope, c.name, err)
			case pc.Admin:
				got = admin
				if pc.Subject != c.ti.Subject {
					t.Errorf("%s %s: subject %q", p.Scope, c.name, pc.Subject)
				}
			default:
				got = client
				if pc.Subject != c.ti.ClientID || pc.ClientID != c.ti.ClientID {
					t.Errorf("%s %s: caller %+v", p.Scope, c.name, pc)
				}
			}
			if got != c.want {
				t.Errorf("%s %s: got %d, want %d (%v)", p.Scope, c.name, got, c.want, err)
			}
		}
	}
	// Each privilege reads its own flag.
	scimOnly := clientMap{"c": {ID: "c", AllowSCIM: true}}
	ti := &authz.TokenInfo{Grant: "client_credentials", Subject: "c", ClientID: "c", Scopes: []string{"scim", "launch:create"}}
	if _, err := authz.PrivilegeLaunchCreate.Caller(context.Background(), ti, scimOnly, accounts); !errors.Is(err, authz.ErrNotPrivileged) {
		t.Errorf("launch:create for a client allowed SCIM only: %v", err)
	}
	if _, err := authz.PrivilegeSCIM.Caller(context.Background(), ti, scimOnly, accounts); err != nil {
		t.Errorf("scim for a client allowed SCIM: %v", err)
	}
}
