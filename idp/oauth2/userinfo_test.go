package oauth2

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smartgate/smartgate/idp"
)

func ignoreProblems(string, ...any) {}

// FuzzIdentityOf: any userinfo answer maps to an identity with a usable
// subject, or to ErrUnavailable / ErrInvalidToken; a verified email is
// never empty, and Facebook's is never verified.
func FuzzIdentityOf(f *testing.F) {
	for _, s := range []string{
		`{"id":"10158000000000001","name":"Ann Example","email":"ann@example.org"}`,
		`{"sub":"abc","email":"a@example.org","email_verified":true,"given_name":"A","family_name":"B"}`,
		`{"id":583231,"email_verified":"true","email":""}`,
		`{"id":-1}`, `{"id":1e3}`, `{"sub":null}`, `{"sub":["x"]}`, `null`, `[]`, `{} {}`, `{"sub":"x"} trailing`,
		`{"sub":"` + strings.Repeat("x", 300) + `"}`, "{\"sub\":\"\xff\"}",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	generic := claimMapping(nil, ignoreProblems)
	f.Fuzz(func(t *testing.T, body []byte, facebook bool) {
		m := generic
		if facebook {
			m = facebookClaims()
		}
		id, err := identityOf(body, m)
		if err != nil {
			if !errors.Is(err, idp.ErrUnavailable) && !errors.Is(err, idp.ErrInvalidToken) {
				t.Fatalf("error %v is neither ErrUnavailable nor ErrInvalidToken", err)
			}
			if id.Subject != "" || id.Email != "" {
				t.Fatalf("an identity %+v with the error %v", id, err)
			}
			return
		}
		if id.Subject == "" || len(id.Subject) > maxSubject || !utf8.ValidString(id.Subject) {
			t.Fatalf("subject %q", id.Subject)
		}
		if id.EmailVerified && (id.Email == "" || facebook) {
			t.Fatalf("email %q verified (facebook %v)", id.Email, facebook)
		}
		if len(id.Email) > maxEmail || len(id.Name) > maxField {
			t.Fatalf("oversized fields kept: %d, %d", len(id.Email), len(id.Name))
		}
	})
}

func TestClaimMappingOverrides(t *testing.T) {
	m := claimMapping(map[string]string{"subject": "uid", "domain": "hd"}, ignoreProblems)
	id, err := identityOf([]byte(`{"uid":"u1","sub":"s1","hd":"example.org","email":"a@example.org"}`), m)
	if err != nil || id.Subject != "u1" || id.Domain != "example.org" || id.Email != "a@example.org" {
		t.Errorf("%+v, %v", id, err)
	}
	if _, err := identityOf([]byte(`{"sub":"s1"}`), m); !errors.Is(err, idp.ErrInvalidToken) {
		t.Errorf("a configured subject falls back to sub: %v", err)
	}
}

func TestSafeText(t *testing.T) {
	if got := idp.CleanText("access_denied\r\n\x00<b>", 64); got != "access_denied<b>" {
		t.Errorf("safeText = %q", got)
	}
	if got := idp.CleanText(strings.Repeat("é", 10), 3); got != "ééé…" {
		t.Errorf("safeText cut = %q", got)
	}
}

func BenchmarkIdentityOf(b *testing.B) {
	body := []byte(`{"sub":"248289761001","name":"Jane Doe","given_name":"Jane","family_name":"Doe",` +
		`"preferred_username":"j.doe","email":"janedoe@example.com","email_verified":true,"picture":"https://example.com/janedoe/me.jpg"}`)
	m := claimMapping(nil, ignoreProblems)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := identityOf(body, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppSecretProof(b *testing.B) {
	for b.Loop() {
		appSecretProof("the-app-secret", "EAAGm0PX4ZCpsBAKZCZBZCZCZCZCZCZCZCZCZCZC")
	}
}
