package account

import (
	"strings"
	"testing"
)

func TestParseRecoveryCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-ijkl-mnop", "abcdefghijklmnop", true},
		{"ABCD-EFGH-IJKL-MNOP", "abcdefghijklmnop", true},
		{"abcd efgh ijkl mnop", "abcdefghijklmnop", true},
		{"abcdefghijklmnop", "abcdefghijklmnop", true},
		{"2345-6723-4567-2345", "2345672345672345", true},
		{"abcd-efgh ijkl-mnop", "", false}, // mixed separators
		{"abcd_efgh_ijkl_mnop", "", false},
		{"abcd-efgh-ijkl-mno", "", false},
		{"abcd-efgh-ijkl-mnopq", "", false},
		{"abcd-efgh-ijkl-mn0p", "", false}, // 0 is not base32
		{"abcd-efgh-ijkl-mn1p", "", false},
		{"abcdefghijklmno\u212a", "", false}, // Kelvin sign lower-cases to k
		{"", "", false},
		{"123456", "", false},
	}
	for _, tc := range tests {
		got, ok := ParseRecoveryCode(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseRecoveryCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNewRecoveryCodesParseBack(t *testing.T) {
	codes, hashes, err := newRecoveryCodes("u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	for i, c := range codes {
		raw, ok := ParseRecoveryCode(c)
		if !ok || string(recoveryHash("u1", raw)) != string(hashes[i]) {
			t.Fatalf("code %q does not parse back to its hash", c)
		}
		if string(recoveryHash("u2", raw)) == string(hashes[i]) {
			t.Fatal("the hash does not depend on the user")
		}
	}
}

func FuzzParseRecoveryCode(f *testing.F) {
	for _, s := range []string{"abcd-efgh-ijkl-mnop", "ABCD EFGH IJKL MNOP", "abcdefghijklmnop", "abcd-efgh ijkl-mnop", "abcdefghijklmno\u212a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseRecoveryCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("refused %q but returned %q", s, got)
			}
			return
		}
		if len(got) != 16 || strings.Trim(got, recoveryAlphabet) != "" {
			t.Fatalf("accepted %q as %q: not 16 lower-case base32 characters", s, got)
		}
		if strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(s)) != got {
			t.Fatalf("accepted %q as %q: not the same characters", s, got)
		}
		again, ok := ParseRecoveryCode(groupRecovery(got))
		if !ok || again != got {
			t.Fatalf("the grouped form of %q parses to %q, %v", got, again, ok)
		}
	})
}
