package loadgen

import (
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // "" means accepted
	}{
		{"http://127.0.0.1:8080/oauth/token", ""},
		{"http://127.1.2.3/", ""},
		{"https://127.255.255.254:8443/fhir", ""},
		{"http://localhost:8080/", ""},
		{"http://LOCALHOST/", ""},
		{"http://[::1]:8080/", ""},
		{"http://[::ffff:127.0.0.1]:8080/", ""},
		{"http://10.0.0.1/", "not loopback"},
		{"http://128.0.0.1/", "not loopback"},
		{"http://0.0.0.0:8080/", "not loopback"},
		{"http://[::]:8080/", "not loopback"},
		{"http://[::2]/", "not loopback"},
		{"http://[fe80::1%25lo]/", "not loopback"},
		{"http://example.com/", "not loopback"},
		{"http://localhost.example.com/", "not loopback"},
		{"http://127.0.0.1.nip.io/", "not loopback"},
		{"http://2130706433/", "not loopback"}, // decimal 127.0.0.1: not a literal we accept
		{"ftp://127.0.0.1/", "scheme"},
		{"127.0.0.1:8080", "target"},
		{"http:///path", "no host"},
		{"http://user:pw@127.0.0.1/", "credentials"},
		{"http://%zz", "target"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := CheckLoopback(tt.url)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CheckLoopback(%q) = %v, want accepted", tt.url, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("CheckLoopback(%q) accepted, want error containing %q", tt.url, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("CheckLoopback(%q) = %v, want error containing %q", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestLoopbackOnlyDialControl(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"127.9.9.9:80", true},
		{"[::1]:80", true},
		{"192.168.1.1:80", false},
		{"[2001:db8::1]:443", false},
		{"localhost:80", false}, // the dialer sees resolved addresses only
		{"garbage", false},
	}
	for _, tt := range tests {
		err := loopbackOnly("tcp", tt.addr, nil)
		if (err == nil) != tt.ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func TestRunRefusesNonLoopbackBeforeSending(t *testing.T) {
	// A listener on a non-loopback address would be needed to prove nothing is
	// sent; instead, the refusal must come from validation, before any dial.
	_, err := Run(t.Context(), Config{
		Request:     Request{BaseURL: "http://192.0.2.1/"},
		Concurrency: 1, Duration: 1, MaxRequests: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Fatalf("Run to 192.0.2.1 = %v, want a loopback refusal", err)
	}
}
