package registration_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/authz/registration"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n got %s\nwant %s", path, got, want)
	}
}

// TestDCR1_Response: the RFC 7591 §3.2.1 client information response.
func TestDCR1_Response(t *testing.T) {
	m, err := registration.Validate(registration.Metadata{
		RedirectURIs: []string{"https://app.example/cb"},
		ClientName:   "Demo <App>",
		Scope:        "launch openid fhirUser patient/*.rs",
		LaunchURI:    "https://app.example/launch",
	}, admin())
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		issued registration.Issued
		want   map[string]bool // member → present
	}{
		{
			name: "confidential.json",
			issued: registration.Issued{
				ClientID: "c-123", ClientSecret: "s3cr3t-value", IssuedAt: issued,
				RegistrationAccessToken: "rat-value", RegistrationClientURI: "https://as.example/oauth/register/c-123",
			},
			want: map[string]bool{"client_secret": true, "client_secret_expires_at": true, "client_id_issued_at": true, "registration_access_token": true},
		},
		{
			name:   "expiring_secret.json",
			issued: registration.Issued{ClientID: "c-456", ClientSecret: "s", SecretExpiresAt: issued.Add(90 * 24 * time.Hour)},
			want:   map[string]bool{"client_secret": true, "client_secret_expires_at": true, "client_id_issued_at": false},
		},
		{
			name:   "public.json",
			issued: registration.Issued{ClientID: "p-789", IssuedAt: issued},
			want:   map[string]bool{"client_secret": false, "client_secret_expires_at": false, "registration_access_token": false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := registration.NewResponse(m, tc.issued)
			b, err := json.MarshalIndent(resp, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "response_"+tc.name, append(b, '\n'))
			var obj map[string]any
			if err := json.Unmarshal(b, &obj); err != nil {
				t.Fatal(err)
			}
			for member, present := range tc.want {
				if _, ok := obj[member]; ok != present {
					t.Errorf("member %s present = %v, want %v", member, ok, present)
				}
			}
			for _, member := range []string{"client_id", "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "scope", "launch_uri", "client_name"} {
				if _, ok := obj[member]; !ok {
					t.Errorf("registered member %s missing", member)
				}
			}
			if tc.issued.ClientSecret != "" && tc.issued.SecretExpiresAt.IsZero() && obj["client_secret_expires_at"] != float64(0) {
				t.Errorf("client_secret_expires_at = %v, want 0 (never)", obj["client_secret_expires_at"])
			}
		})
	}
}

func TestDCR1_ResponseDoesNotEchoSoftwareStatement(t *testing.T) {
	resp := registration.NewResponse(registration.Metadata{SoftwareStatement: "a.b.c"}, registration.Issued{ClientID: "x"})
	b, _ := json.Marshal(resp)
	if strings.Contains(string(b), "software_statement") {
		t.Fatalf("response echoes an ignored software statement: %s", b)
	}
}

// TestDCR6_SecretsNotLogged: Issued and Response redact credentials.
func TestDCR6_SecretsNotLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	is := registration.Issued{ClientID: "c", ClientSecret: "SECRET-1", RegistrationAccessToken: "TOKEN-1"}
	log.Info("issued", "issued", is, "response", registration.NewResponse(registration.Metadata{}, is))
	if s := buf.String(); strings.Contains(s, "SECRET-1") || strings.Contains(s, "TOKEN-1") || !strings.Contains(s, `"client_id":"c"`) {
		t.Fatalf("log = %s", s)
	}
}
