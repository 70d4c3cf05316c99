package fhir

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Interaction names a FHIR RESTful interaction, as in
// CapabilityStatement.rest.resource.interaction.code.
type Interaction string

// The interactions the endpoint implements.
const (
	InteractionRead            Interaction = "read"
	InteractionVRead           Interaction = "vread"
	InteractionUpdate          Interaction = "update"
	InteractionDelete          Interaction = "delete"
	InteractionHistoryInstance Interaction = "history-instance"
	InteractionHistoryType     Interaction = "history-type"
	InteractionHistorySystem   Interaction = "history-system"
	InteractionCreate          Interaction = "create"
	InteractionSearchType      Interaction = "search-type"
)

// Errors an access decision returns; the handlers turn them into the
// HTTP answers of SMART App Launch / RFC 6750.
var (
	// ErrNoToken: the request carries no credentials (401 with
	// WWW-Authenticate: Bearer).
	ErrNoToken = errors.New("fhir: authentication required")
	// ErrInvalidToken: the credentials are not valid (401, error="invalid_token").
	ErrInvalidToken = errors.New("fhir: invalid token")
	// ErrInsufficientScope: valid credentials without the scope needed
	// (403, error="insufficient_scope").
	ErrInsufficientScope = errors.New("fhir: insufficient scope")
	// ErrHidden: the resource is outside what the caller may see; it
	// reads as if it did not exist (404).
	ErrHidden = errors.New("fhir: not visible")
)

// Challenge is an authentication failure that names its own
// WWW-Authenticate challenge (RFC 6750 §3), for an Authenticator whose
// refusals say more than ErrNoToken or ErrInvalidToken do (authz/certauth:
// the client-certificate policy). It is answered 401 with an
// OperationOutcome whose diagnostics are Detail.
type Challenge struct {
	Err    error  // ErrNoToken or ErrInvalidToken
	Header string // the WWW-Authenticate value
	Detail string
}

func (c *Challenge) Error() string { return c.Err.Error() + ": " + c.Detail }
func (c *Challenge) Unwrap() error { return c.Err }

// AccessRequest describes one interaction on the data, for the access
// decision. For a write it is asked once for the current version (when
// there is one) and once for the new content, so that a write can neither
// touch nor move data into a compartment the caller may not write.
type AccessRequest struct {
	Interaction Interaction
	Type        string
	// ID is empty for type-level interactions (search, create, type history).
	ID string
	// Patients are the ids of the patients in whose compartment the
	// resource content is (by the Patient CompartmentDefinition); nil for
	// type-level interactions.
	Patients []string
	// Resource is the resource content concerned (nil for type-level
	// interactions), for query-restricted scopes such as
	// patient/Observation.rs?category=laboratory.
	Resource []byte
	// Incoming marks Resource as the content a create or update would
	// store (not a stored version): refusing it is a 403, since nothing
	// stored is being hidden.
	Incoming bool
}

// Restriction limits what a type-level interaction (search, type history)
// may return.
type Restriction struct {
	// Patients, when non-nil, keeps only resources in the compartment of
	// one of these patients. An empty non-nil slice lets nothing through.
	Patients []string
	// AnyOf, when non-empty, keeps only resources that match at least one
	// of these searches (each a set of ANDed parameters), as SMART v2
	// query-restricted scopes require (patient/Observation.rs?category=a
	// and patient/Observation.rs?code=b grant the union). Decide single
	// resources with search.Registry.Matches.
	AnyOf []url.Values
}

// Principal is the authenticated caller of one request.
type Principal interface {
	// Authorize decides one interaction. It returns nil, ErrInsufficientScope
	// or ErrHidden.
	Authorize(ctx context.Context, req AccessRequest) error
	// Restrict returns the restriction for a type-level interaction on typ
	// (search-type, history-type; history-system with typ ""), or
	// ErrInsufficientScope.
	Restrict(ctx context.Context, interaction Interaction, typ string) (Restriction, error)
}

// WholeTypeReacher is implemented by Principals that can tell, without
// seeing a resource, that an interaction is allowed on every resource of a
// type (a system/*.rs token, an administrator). The endpoint then skips
// working out the compartments of stored content it would otherwise pass
// to Authorize. ReachesAll must return true only when Authorize would
// allow the interaction for every resource of typ, whatever its content.
type WholeTypeReacher interface {
	ReachesAll(ctx context.Context, interaction Interaction, typ string) bool
}

// RefusalExplainer is implemented by Principals that can say how they came
// to refuse: ExplainRefusal runs the last refused decision of the request
// again, recording its steps, and returns them as JSON of at most
// audit.MaxTrace bytes (package fhir/access's Explanation), or "". The
// endpoint asks only when it answers a request as denied, for the audit
// record's Trace: a request that succeeds costs nothing extra.
type RefusalExplainer interface {
	ExplainRefusal(ctx context.Context) string
}

// Authenticator finds the Principal of a request: it checks the token
// locally. It returns ErrNoToken or ErrInvalidToken when it cannot.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// NoAccessControl is the Authenticator that lets every request do
// everything. It exists for tests of the data layer and for deployments
// that explicitly switch enforcement off (Config.AccessControlOff); it is
// never a default.
type NoAccessControl struct{}

// Authenticate returns a principal that is allowed everything.
func (NoAccessControl) Authenticate(*http.Request) (Principal, error) { return allowAll{}, nil }

type allowAll struct{}

func (allowAll) Authorize(context.Context, AccessRequest) error       { return nil }
func (allowAll) ReachesAll(context.Context, Interaction, string) bool { return true }
func (allowAll) Restrict(context.Context, Interaction, string) (Restriction, error) {
	return Restriction{}, nil
}

// denyAll is used when no Authenticator is configured and access control
// is not switched off: every data request is unauthenticated.
type denyAll struct{}

func (denyAll) Authenticate(*http.Request) (Principal, error) { return nil, ErrNoToken }
