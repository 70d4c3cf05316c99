package fhirdata

import (
	"slices"
	"testing"
)

func TestReadPathsIsAPermutationOfDistinctRefs(t *testing.T) {
	mk := func(n int) []Ref {
		out := make([]Ref, n)
		for i := range out {
			out[i] = Ref{Type: "Observation", ID: string(rune('a'+i%26)) + string(rune('a'+i/26))}
		}
		return out
	}
	tests := []struct {
		name string
		refs []Ref
		want int
	}{
		{"one", mk(1), 1},
		{"prime count", mk(13), 13},
		{"count sharing a factor with nothing", mk(100), 100},
		{"duplicates dropped", append(mk(5), mk(5)...), 5},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ReadPaths(tt.refs)
			if len(got) != tt.want {
				t.Fatalf("len = %d, want %d", len(got), tt.want)
			}
			seen := map[string]bool{}
			for _, p := range got {
				if seen[p] {
					t.Fatalf("path %s repeated", p)
				}
				seen[p] = true
			}
			for _, r := range Unique(tt.refs) {
				if !seen["/"+r.Type+"/"+r.ID] {
					t.Fatalf("missing %v", r)
				}
			}
		})
	}
}

func TestLabSearchPaths(t *testing.T) {
	refs := []Ref{{"Patient", "p1"}, {"Observation", "o1"}, {"Patient", "p2"}}
	want := []string{
		"/Observation?patient=p1&category=laboratory",
		"/Observation?patient=p2&category=laboratory",
	}
	if got := LabSearchPaths(refs); !slices.Equal(got, want) {
		t.Fatalf("LabSearchPaths = %v, want %v", got, want)
	}
}

func TestParseBundleRefusesNonBundle(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"bundle", `{"resourceType":"Bundle","type":"transaction","entry":[]}`, true},
		{"patient", `{"resourceType":"Patient"}`, false},
		{"not json", `{`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseBundle(%s) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
