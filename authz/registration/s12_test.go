package registration_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/registration"
	"github.com/smartgate/smartgate/authz/smart"
)

// TestS12_RegistrationIgnoresClientChosenID: a client cannot pick its own
// client_id (or secret) through registration metadata (RFC 9700 §2.6,
// §4.15): Decode drops them and the response names the id the server
// issued.
func TestS12_RegistrationIgnoresClientChosenID(t *testing.T) {
	body := `{"client_id":"admin","client_secret":"chosen","client_name":"A","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none","scope":"openid"}`
	m, err := registration.Decode(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ceiling, _ := smart.ParseScopes("openid")
	if m, err = registration.Validate(m, registration.Policy{Scopes: ceiling}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), "admin") || strings.Contains(string(b), "chosen") {
		t.Fatalf("decoded metadata keeps the client's id or secret: %s", b)
	}
	b, _ = json.Marshal(registration.NewResponse(m, registration.Issued{ClientID: "srv-123", IssuedAt: time.Unix(1, 0)}))
	var resp map[string]any
	json.Unmarshal(b, &resp)
	if resp["client_id"] != "srv-123" || resp["client_secret"] != nil {
		t.Fatalf("response = %s", b)
	}
}
