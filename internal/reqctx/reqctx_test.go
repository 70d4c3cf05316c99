package reqctx

import (
	"context"
	"net/http/httptest"
	"testing"
)

// TestSec9D5_ClientAddressTrustsOnlyConfiguredProxies: forwarded headers
// count only when the direct peer is a trusted proxy, and then are read
// from the right, skipping further trusted proxies, so that what the client
// itself wrote at the left is never taken.
func TestSec9D5_ClientAddressTrustsOnlyConfiguredProxies(t *testing.T) {
	trusted, err := ParsePrefixes("127.0.0.1, 10.0.0.0/8,::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer, xff, fwd string
		proxies              Prefixes
		want                 string
	}{
		{"no proxies: header ignored", "192.0.2.7:5000", "203.0.113.1", "", nil, "192.0.2.7"},
		{"untrusted peer: header ignored", "192.0.2.7:5000", "203.0.113.1", "for=198.51.100.1", trusted, "192.0.2.7"},
		{"trusted peer, one hop", "127.0.0.1:5000", "203.0.113.1", "", trusted, "203.0.113.1"},
		{"client-written left part skipped", "127.0.0.1:5000", "6.6.6.6, 203.0.113.1, 10.1.1.1", "", trusted, "203.0.113.1"},
		{"several header lines", "127.0.0.1:5000", "", "", trusted, "203.0.113.9"},
		{"only trusted hops: leftmost", "127.0.0.1:5000", "10.2.2.2, 10.1.1.1", "", trusted, "10.2.2.2"},
		{"garbage: last trusted hop", "127.0.0.1:5000", "203.0.113.1, nonsense, 10.1.1.1", "", trusted, "10.1.1.1"},
		{"empty header: peer", "127.0.0.1:5000", "", "", trusted, "127.0.0.1"},
		{"Forwarded when no X-Forwarded-For", "[::1]:5000", "", `for="[2001:db8::1]:4711";proto=https, for=10.3.3.3`, trusted, "2001:db8::1"},
		{"X-Forwarded-For wins over Forwarded", "127.0.0.1:5000", "203.0.113.2", "for=198.51.100.2", trusted, "203.0.113.2"},
		{"Forwarded unknown: last trusted hop", "127.0.0.1:5000", "", "for=unknown", trusted, "127.0.0.1"},
		{"IPv4-mapped peer", "[::ffff:127.0.0.1]:5000", "203.0.113.3:1234", "", trusted, "203.0.113.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.name == "several header lines" {
				r.Header.Add("X-Forwarded-For", "6.6.6.6")
				r.Header.Add("X-Forwarded-For", "203.0.113.9, 10.0.0.1")
			}
			if tc.fwd != "" {
				r.Header.Set("Forwarded", tc.fwd)
			}
			if got := tc.proxies.Client(r); got != tc.want {
				t.Fatalf("client %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientAddressFromContextOrPeer(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::5]:443"
	if got := ClientAddress(r); got != "2001:db8::5" {
		t.Fatalf("without middleware: %q", got)
	}
	r = r.WithContext(With(context.Background(), "id-12345678", "203.0.113.4"))
	if got := ClientAddress(r); got != "203.0.113.4" || ID(r.Context()) != "id-12345678" {
		t.Fatalf("with middleware: %q %q", got, ID(r.Context()))
	}
	if ID(context.Background()) != "" {
		t.Fatal("id without middleware")
	}
}

func TestParsePrefixes(t *testing.T) {
	ps, err := ParsePrefixes(" 127.0.0.0/8 , ::1,192.0.2.1 ")
	if err != nil || len(ps) != 3 {
		t.Fatalf("%v %v", ps, err)
	}
	for addr, want := range map[string]bool{"127.9.9.9": true, "::1": true, "192.0.2.1": true, "192.0.2.2": false, "": false, "x": false} {
		if ps.Contains(addr) != want {
			t.Errorf("Contains(%q) = %v", addr, !want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "1.2.3"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
	if ps, err := ParsePrefixes(""); err != nil || len(ps) != 0 {
		t.Fatalf("empty list: %v %v", ps, err)
	}
}
