// Package fhirdata reads the FHIR Bundles the benchmarks load (the Synthea
// transaction bundles) and derives request paths from them.
package fhirdata

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Bundle is the part of a FHIR Bundle the benchmarks need.
type Bundle struct {
	ResourceType string  `json:"resourceType"`
	Type         string  `json:"type"`
	Entry        []Entry `json:"entry"`
}

// Entry is one Bundle entry; Resource is kept as raw JSON.
type Entry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
}

// Ref is a resource's type and id.
type Ref struct {
	Type string `json:"resourceType"`
	ID   string `json:"id"`
}

// Files returns the *.json files in dir, sorted.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("fhirdata: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("fhirdata: no *.json bundles in %s", dir)
	}
	slices.Sort(files)
	return files, nil
}

// ReadBundle reads and parses one Bundle file.
func ReadBundle(path string) (*Bundle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fhirdata: %w", err)
	}
	return ParseBundle(b)
}

// ParseBundle parses a Bundle.
func ParseBundle(b []byte) (*Bundle, error) {
	var bu Bundle
	if err := json.Unmarshal(b, &bu); err != nil {
		return nil, fmt.Errorf("fhirdata: bundle: %w", err)
	}
	if bu.ResourceType != "Bundle" {
		return nil, fmt.Errorf("fhirdata: resourceType %q, want Bundle", bu.ResourceType)
	}
	return &bu, nil
}

// Refs returns the type and id of every resource in the bundles under dir,
// in file and entry order.
func Refs(dir string) ([]Ref, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var out []Ref
	for _, f := range files {
		bu, err := ReadBundle(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i, e := range bu.Entry {
			var r Ref
			if err := json.Unmarshal(e.Resource, &r); err != nil {
				return nil, fmt.Errorf("fhirdata: %s entry %d: %w", f, i, err)
			}
			if r.Type == "" || r.ID == "" {
				return nil, fmt.Errorf("fhirdata: %s entry %d: resource without type or id", f, i)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// ReadPaths returns "/Type/id" for every distinct ref, each once, in a fixed
// order that spreads neighbours apart (so consecutive requests hit different
// types and patients) without randomness: every run requests the same
// sequence.
func ReadPaths(refs []Ref) []string {
	refs = Unique(refs)
	n := len(refs)
	out := make([]string, n)
	stride := 7919 // a prime; stepped down until coprime with n
	for stride > 1 && gcd(stride, n) != 1 {
		stride--
	}
	for i := range refs {
		r := refs[(i*stride)%n]
		out[i] = "/" + r.Type + "/" + r.ID
	}
	return out
}

// Unique returns refs without repeats, keeping the first occurrence. (The
// Synthea bundles share a few Organization and Practitioner resources.)
func Unique(refs []Ref) []Ref {
	seen := make(map[Ref]bool, len(refs))
	out := make([]Ref, 0, len(refs))
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// LabSearchPaths returns "/Observation?patient=ID&category=laboratory" for
// each Patient among refs.
func LabSearchPaths(refs []Ref) []string {
	var out []string
	for _, r := range refs {
		if r.Type == "Patient" {
			out = append(out, "/Observation?patient="+r.ID+"&category=laboratory")
		}
	}
	return out
}
