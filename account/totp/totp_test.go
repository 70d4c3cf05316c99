package totp

import (
	"encoding/base32"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 4226 Appendix D: HOTP-SHA1, 6 digits, of the ASCII secret
// "12345678901234567890" at counters 0 to 9.
func TestHOTPRFC4226AppendixD(t *testing.T) {
	key := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489"}
	for c, w := range want {
		if got := HOTP(key, uint64(c), Params{}); got != w {
			t.Errorf("HOTP(counter %d) = %s, want %s", c, got, w)
		}
	}
}

// RFC 6238 Appendix B: TOTP with 8 digits, 30 s steps, for the three
// algorithms with their seeds (20, 32 and 64 ASCII bytes).
func TestTOTPRFC6238AppendixB(t *testing.T) {
	seeds := map[Algorithm][]byte{
		SHA1:   []byte("12345678901234567890"),
		SHA256: []byte("12345678901234567890123456789012"),
		SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	tests := []struct {
		unix  int64
		step  uint64
		codes map[Algorithm]string
	}{
		{59, 0x1, map[Algorithm]string{SHA1: "94287082", SHA256: "46119246", SHA512: "90693936"}},
		{1111111109, 0x23523EC, map[Algorithm]string{SHA1: "07081804", SHA256: "68084774", SHA512: "25091201"}},
		{1111111111, 0x23523ED, map[Algorithm]string{SHA1: "14050471", SHA256: "67062674", SHA512: "99943326"}},
		{1234567890, 0x273EF07, map[Algorithm]string{SHA1: "89005924", SHA256: "91819424", SHA512: "93441116"}},
		{2000000000, 0x3F940AA, map[Algorithm]string{SHA1: "69279037", SHA256: "90698825", SHA512: "38618901"}},
		{20000000000, 0x27BC86AA, map[Algorithm]string{SHA1: "65353130", SHA256: "77737706", SHA512: "47863826"}},
	}
	for _, tc := range tests {
		at := time.Unix(tc.unix, 0)
		for alg, want := range tc.codes {
			p := Params{Algorithm: alg, Digits: 8}
			if s := Step(at, p); s != tc.step {
				t.Errorf("Step(%d) = %#x, want %#x", tc.unix, s, tc.step)
			}
			if got := Code(seeds[alg], at, p); got != want {
				t.Errorf("%s at %d = %s, want %s", alg, tc.unix, got, want)
			}
		}
	}
}

func TestMatchWindowAndReplay(t *testing.T) {
	key := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0) // step 0x23523ED
	cur := Step(now, Params{})
	code := func(s uint64) string { return HOTP(key, s, Params{}) }
	tests := []struct {
		name  string
		code  string
		after uint64
		step  uint64
		ok    bool
	}{
		{"current", code(cur), 0, cur, true},
		{"one step behind", code(cur - 1), 0, cur - 1, true},
		{"one step ahead", code(cur + 1), 0, cur + 1, true},
		{"two steps behind", code(cur - 2), 0, 0, false},
		{"two steps ahead", code(cur + 2), 0, 0, false},
		{"current, already used", code(cur), cur, 0, false},
		{"behind the last used", code(cur - 1), cur, 0, false},
		{"ahead of the last used", code(cur + 1), cur, cur + 1, true},
		{"wrong", "000000", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tc := range tests {
		if tc.code == "000000" && (code(cur-1) == tc.code || code(cur) == tc.code || code(cur+1) == tc.code) {
			t.Fatal("test vector collides")
		}
		step, ok := Match(key, tc.code, now, 1, tc.after, Params{})
		if ok != tc.ok || step != tc.step {
			t.Errorf("%s: Match = %d, %v; want %d, %v", tc.name, step, ok, tc.step, tc.ok)
		}
	}
}

func TestMatchNearTheEpoch(t *testing.T) {
	key := []byte("12345678901234567890")
	if s, ok := Match(key, HOTP(key, 0, Params{}), time.Unix(1, 0), 1, 0, Params{}); ok {
		t.Fatalf("step 0 accepted after 0 (step %d)", s)
	}
	if s, ok := Match(key, HOTP(key, 1, Params{}), time.Unix(1, 0), 1, 0, Params{}); !ok || s != 1 {
		t.Fatalf("step 1 at time 1: %d, %v", s, ok)
	}
}

func TestParseCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123456", "123456", true},
		{"123 456", "123456", true},
		{"000000", "000000", true},
		{"12345", "", false},
		{"1234567", "", false},
		{"12 3456", "", false},
		{"123  456", "", false},
		{" 123456", "", false},
		{"123456 ", "", false},
		{"123-456", "", false},
		{"12345a", "", false},
		{"+12345", "", false},
		{"１２３４５６", "", false}, // fullwidth digits
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := ParseCode(tc.in, 6)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12345", "123  456", "١٢٣٤٥٦", "123\x00456", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseCode(s, 6)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q but returned %q", s, got)
			}
			return
		}
		if len(got) != 6 || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("accepted %q as %q: not six ASCII digits", s, got)
		}
		if s != got && s != got[:3]+" "+got[3:] {
			t.Fatalf("accepted %q as %q: neither form", s, got)
		}
	})
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if len(a) != 20 || string(a) == string(b) {
		t.Fatalf("secrets %x, %x: want 20 random bytes each", a, b)
	}
	enc := EncodeSecret(a)
	if len(enc) != 32 || strings.Contains(enc, "=") {
		t.Fatalf("EncodeSecret = %q: want 32 base32 characters, no padding", enc)
	}
	dec, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enc)
	if err != nil || string(dec) != string(a) {
		t.Fatalf("round trip: %x, %v", dec, err)
	}
}

func TestURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	got := URI("smart gate", "ann:b@example.org", secret, Params{})
	want := "otpauth://totp/smart%20gate:ann%3Ab@example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=smart%20gate&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Fatalf("URI =\n%s\nwant\n%s", got, want)
	}
	u, err := url.Parse(got)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("issuer") != "smart gate" {
		t.Fatalf("URI does not parse back: %+v, %v", u, err)
	}
}
