package search

import "testing"

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "A-1.b": true, "9afe28dc-7ad5-4e90-b6a6-16123eae98c3": true, "...": true, ".a": true,
		"": false, ".": false, "..": false, "a/b": false, "a b": false, "a_b": false, "%2E": false,
		"0123456789012345678901234567890123456789012345678901234567890123":  true,
		"01234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
