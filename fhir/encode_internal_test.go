package fhir

import (
	"encoding/json"
	"testing"
)

// encodeResource writes strings, booleans and null exactly as
// encoding/json does without HTML escaping (the stored form of a resource
// must not depend on which path wrote a value).
func TestEncodeValueMatchesEncodingJSON(t *testing.T) {
	values := []any{
		"", "plain ascii 123", "<a href='x'>&amp;</a>", `quote " and \ backslash`, "tab\tnewline\n",
		"\x00\x1f", "é ü 日本", "line\u2028separator\u2029", "bad utf-8 \xff\xfe", "\u007f",
		true, false, nil, json.Number("12.50"), 3,
		map[string]any{"k\"ey": "v", "ü": []any{"a", nil, true}},
	}
	for _, v := range values {
		got := string(encodeResource(map[string]any{"x": v}))
		want := string(marshal(map[string]any{"x": v}))
		if got != want {
			t.Errorf("%q: encodeResource %s, encoding/json %s", v, got, want)
		}
	}
}
