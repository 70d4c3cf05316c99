package account

import (
	"strings"
	"testing"
)

// FuzzNormalizeSignInCode: whatever a person types, the normal form is
// either refused or signInCodeLen characters of the alphabet, and
// normalising it again changes nothing.
func FuzzNormalizeSignInCode(f *testing.F) {
	for _, s := range []string{"7KQ2-M9XD-0RTE", "7kq2 m9xd ortE", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKM", "", "----",
		"ÅBCD-EFGH-JKMN", "abcd\tefgh\tjkmn", "UUUU-UUUU-UUUU", strings.Repeat("A", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := normalizeSignInCode(s)
		if !ok {
			if n != "" {
				t.Fatalf("refused %q but returned %q", s, n)
			}
			return
		}
		if len(n) != signInCodeLen || strings.Trim(n, signInCodeAlphabet) != "" {
			t.Fatalf("normalizeSignInCode(%q) = %q, not %d characters of the alphabet", s, n, signInCodeLen)
		}
		if again, ok := normalizeSignInCode(n); !ok || again != n {
			t.Fatalf("normalising %q again gave %q, %v", n, again, ok)
		}
	})
}

func TestNewSignInCodeNormalisesToItself(t *testing.T) {
	for range 100 {
		shown, normal, err := newSignInCode()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := normalizeSignInCode(shown); !ok || got != normal {
			t.Fatalf("normalizeSignInCode(%q) = %q, %v; want %q", shown, got, ok, normal)
		}
	}
}

func TestNormalizeSignInCodeRefuses(t *testing.T) {
	for _, s := range []string{"", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKMU", "ABCD_EFGH_JKMN", "ÅBCD-EFGH-JKMN",
		"ABCD" + strings.Repeat(" ", 61) + "EFGHJKMN"} {
		if n, ok := normalizeSignInCode(s); ok {
			t.Errorf("normalizeSignInCode(%q) = %q, want refused", s, n)
		}
	}
}
