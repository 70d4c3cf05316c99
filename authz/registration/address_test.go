package registration

import (
	"net/netip"
	"testing"
)

// TestK8_AddressPolicy: which resolved addresses a jwks_uri may reach when
// private addresses are not allowed (SSRF protection).
func TestK8_AddressPolicy(t *testing.T) {
	f, err := NewFetcher(FetcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr   string
		public bool
	}{
		{"93.184.215.14", true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"8.8.8.8", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"198.18.0.1", false},
		{"192.0.2.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},
		{"2002:a00:1::", false},
		{"2001:db8::1", false},
		{"2001::1", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			if got := f.public(a); got != tc.public {
				t.Fatalf("public(%s) = %v, want %v", a, got, tc.public)
			}
			err := f.control("tcp6", netip.AddrPortFrom(a, 443).String(), nil)
			if (err == nil) != tc.public {
				t.Fatalf("control(%s) = %v", a, err)
			}
		})
	}
	if err := f.control("udp4", "8.8.8.8:53", nil); err == nil {
		t.Fatal("udp dial allowed")
	}
}
