package authz_test

import (
	"slices"
	"testing"

	"github.com/smartgate/smartgate/authz"
)

// TestIssue11GrantableScopes: scim needs AllowSCIM; system/ scopes of a
// secret client need AllowSystemScopes; a key client's system/ scopes need
// nothing.
func TestIssue11GrantableScopes(t *testing.T) {
	all := []string{"openid", "scim", "system/*.rs", "user/*.rs"}
	for _, tc := range []struct {
		name   string
		client authz.Client
		want   []string
	}{
		{"SecretNoFlags", authz.Client{TokenEndpointAuthMethod: authz.AuthClientSecretBasic}, []string{"openid", "user/*.rs"}},
		{"PostNoFlags", authz.Client{TokenEndpointAuthMethod: authz.AuthClientSecretPost}, []string{"openid", "user/*.rs"}},
		{"SecretSCIM", authz.Client{TokenEndpointAuthMethod: authz.AuthClientSecretBasic, AllowSCIM: true}, []string{"openid", "scim", "user/*.rs"}},
		{"SecretSystem", authz.Client{TokenEndpointAuthMethod: authz.AuthClientSecretBasic, AllowSystemScopes: true}, []string{"openid", "system/*.rs", "user/*.rs"}},
		{"SecretBoth", authz.Client{TokenEndpointAuthMethod: authz.AuthClientSecretBasic, AllowSCIM: true, AllowSystemScopes: true}, all},
		{"KeyNoFlags", authz.Client{TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT}, []string{"openid", "system/*.rs", "user/*.rs"}},
		{"KeySCIM", authz.Client{TokenEndpointAuthMethod: authz.AuthPrivateKeyJWT, AllowSCIM: true}, all},
		{"PublicNoFlags", authz.Client{TokenEndpointAuthMethod: authz.AuthNone}, []string{"openid", "system/*.rs", "user/*.rs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.Scopes = slices.Clone(all)
			if got := tc.client.GrantableScopes(); !slices.Equal(got, tc.want) {
				t.Fatalf("GrantableScopes = %v, want %v", got, tc.want)
			}
			if !slices.Equal(tc.client.Scopes, all) {
				t.Fatalf("GrantableScopes changed Scopes to %v", tc.client.Scopes)
			}
		})
	}
}
