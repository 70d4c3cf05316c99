package bearer_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/rs"
	"github.com/smartgate/smartgate/store"
)

type fixedRS struct {
	c   *rs.Claims
	err error
}

func (f fixedRS) Verify(context.Context, string) (*rs.Claims, error) { return f.c, f.err }

// TestForeignVerifier: whom a token of another issuer speaks for at the
// gateway, from the token alone.
func TestForeignVerifier(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name   string
		c      rs.Claims
		system bool
		roles  []string
	}{
		{"backend service (sub is client_id)", rs.Claims{Subject: "svc", ClientID: "svc"}, true, nil},
		{"backend service (no sub)", rs.Claims{ClientID: "svc"}, true, nil},
		{"patient user", rs.Claims{Subject: "u1", ClientID: "app", FHIRUser: "Patient/p1"}, false, []string{"patient"}},
		{"practitioner", rs.Claims{Subject: "u2", ClientID: "app", FHIRUser: "Practitioner/9"}, false, []string{"practitioner"}},
		{"practitioner role, absolute URL", rs.Claims{Subject: "u3", ClientID: "app", FHIRUser: "https://ehr.example/fhir/PractitionerRole/7"}, false, []string{"practitioner"}},
		{"patient, absolute URL", rs.Claims{Subject: "u4", ClientID: "app", FHIRUser: "https://ehr.example/fhir/Patient/p1"}, false, []string{"patient"}},
		{"related person: no role", rs.Claims{Subject: "u5", ClientID: "app", FHIRUser: "RelatedPerson/3"}, false, nil},
		{"person without fhirUser: no role", rs.Claims{Subject: "u6", ClientID: "app"}, false, nil},
		{"sub equal to client_id but a fhirUser: a person", rs.Claims{Subject: "x", ClientID: "x", FHIRUser: "Patient/p1"}, false, []string{"patient"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Expiry = exp
			p, until, err := bearer.ForeignVerifier{Tokens: fixedRS{c: &c}}.Verify(context.Background(), "t")
			if err != nil {
				t.Fatal(err)
			}
			if p.System != tc.system || !slices.Equal(p.Roles, tc.roles) || !until.Equal(exp) || p.Unrestricted {
				t.Errorf("got System=%v Roles=%v until=%v Unrestricted=%v; want System=%v Roles=%v", p.System, p.Roles, until, p.Unrestricted, tc.system, tc.roles)
			}
		})
	}
	if _, _, err := (bearer.ForeignVerifier{Tokens: fixedRS{err: rs.ErrInvalidToken}}).Verify(context.Background(), "t"); !errors.Is(err, bearer.ErrInactive) {
		t.Errorf("invalid token: %v, want ErrInactive", err)
	}
	if _, _, err := (bearer.ForeignVerifier{Tokens: fixedRS{err: errors.New("issuer down")}}).Verify(context.Background(), "t"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("issuer down: %v, want store.ErrUnavailable (503)", err)
	}
}
