package bearer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/access"
	"github.com/smartgate/smartgate/fhir/bearer"
	"github.com/smartgate/smartgate/fhir/search"
)

// TestIssue15ExplainRefusal: after a refusal the principal explains the
// refused decision, and Explain gives the same answer and steps.
func TestIssue15ExplainRefusal(t *testing.T) {
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	a := bearer.New(nil, reg, bearer.Options{})
	ss, _ := smart.ParseScopes("launch/patient patient/*.read")
	p := &access.Principal{Subject: "lind", Scopes: ss, Patient: "lind", Roles: []string{account.RolePatient}, FHIRUser: "Patient/lind"}
	pr := a.Principal(p)
	ctx := context.Background()
	ex := pr.(fhir.RefusalExplainer)
	if got := ex.ExplainRefusal(ctx); got != "" {
		t.Fatalf("nothing refused yet, trace %q", got)
	}
	own := fhir.AccessRequest{Interaction: fhir.InteractionRead, Type: "Observation", ID: "o1", Patients: []string{"lind"},
		Resource: []byte(`{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/lind"}}`)}
	if err := pr.Authorize(ctx, own); err != nil {
		t.Fatal(err)
	}
	other := own
	other.Patients = []string{"yundt"}
	other.Resource = []byte(`{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/yundt"}}`)
	if err := pr.Authorize(ctx, other); !errors.Is(err, fhir.ErrHidden) {
		t.Fatalf("other patient's Observation: %v", err)
	}
	e, err := access.ParseExplanation(ex.ExplainRefusal(ctx))
	if err != nil || e.Allowed || e.RefusedBy != access.CheckCompartment {
		t.Fatalf("%+v %v", e, err)
	}
	e2, err := a.Explain(ctx, p, other)
	if !errors.Is(err, fhir.ErrHidden) || e2.RefusedBy != e.RefusedBy || len(e2.Steps) != len(e.Steps) {
		t.Fatalf("Explain: %+v %v", e2, err)
	}
	if _, err := pr.Restrict(ctx, fhir.InteractionSearchType, "Organization"); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Restrict(ctx, fhir.InteractionHistoryType, "Observation"); err != nil {
		t.Fatal(err)
	}
	p.Scopes, _ = smart.ParseScopes("patient/Observation.read")
	if _, err := pr.Restrict(ctx, fhir.InteractionSearchType, "Condition"); !errors.Is(err, fhir.ErrInsufficientScope) {
		t.Fatalf("search without scope: %v", err)
	}
	e, err = access.ParseExplanation(ex.ExplainRefusal(ctx))
	if err != nil || e.RefusedBy != access.CheckScope {
		t.Fatalf("%+v %v", e, err)
	}
	if e, err := a.Explain(ctx, p, fhir.AccessRequest{Interaction: fhir.InteractionSearchType, Type: "Condition"}); !errors.Is(err, fhir.ErrInsufficientScope) || e.RefusedBy != access.CheckScope {
		t.Fatalf("Explain search: %+v %v", e, err)
	}
}
