package registration_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/authz/smart"
)

// The registration endpoint's flow (RFC 7591 §3): decode, validate under
// the caller's policy, store, answer. Errors answer HTTP 400 with the
// *Error marshalled as is; success answers 201 with Cache-Control: no-store.
func Example() {
	body := `{
		"client_name": "Growth Chart",
		"client_id": "chosen-by-client",
		"redirect_uris": ["https://growth.example/cb"],
		"token_endpoint_auth_method": "none",
		"scope": "launch/patient openid fhirUser patient/*.cruds"
	}`
	ceiling, _ := smart.ParseScopes("launch launch/patient openid fhirUser offline_access patient/*.rs")
	policy := registration.Policy{Scopes: ceiling} // open registration: public clients only

	m, err := registration.Decode(strings.NewReader(body))
	if err == nil {
		m, err = registration.Validate(m, policy)
	}
	var re *registration.Error
	if errors.As(err, &re) {
		b, _ := json.Marshal(re) // HTTP 400
		fmt.Println(string(b))
		return
	}
	// The caller generates and stores the id (never the client's), then:
	resp := registration.NewResponse(m, registration.Issued{
		ClientID: "gc-0001",
		IssuedAt: time.Unix(1795381200, 0),
	})
	b, _ := json.Marshal(resp) // HTTP 201
	fmt.Println(string(b))

	_, err = registration.Validate(registration.Metadata{RedirectURIs: []string{"https://growth.example/cb#x"}}, policy)
	b, _ = json.Marshal(err)
	fmt.Println(string(b))
	// Output:
	// {"client_id":"gc-0001","client_id_issued_at":1795381200,"redirect_uris":["https://growth.example/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code"],"response_types":["code"],"client_name":"Growth Chart","scope":"launch/patient openid fhirUser patient/*.rs"}
	// {"error":"invalid_redirect_uri","error_description":"redirect_uris entry \"https://growth.example/cb#x\": must not contain a fragment (RFC 6749 §3.1.2)"}
}
