// Package shareddata finds the project's shared data folder (FHIR definitions
// and Synthea bundles) for tests. The repository lives next to it as
// ../shared; the environment variable SMARTGATE_SHARED overrides the search.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns the shared folder. When it cannot be found the test is
// failed under CI=true and otherwise ends with a message, since the data is
// not part of the repository.
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SMARTGATE_SHARED"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// Find the module root, then look for shared/ beside it or above it.
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shareddata: module root not found")
		}
		dir = parent
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared")
		if st, err := os.Stat(filepath.Join(c, "fhir", "synthea")); err == nil && st.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("shareddata: ../shared/fhir/synthea not found (set SMARTGATE_SHARED)")
	}
	t.Fatal("shareddata: ../shared/fhir/synthea not found next to the repository (set SMARTGATE_SHARED)")
	return ""
}

// SyntheaBundles lists the Synthea bundle files.
func SyntheaBundles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(SharedDir(t), "fhir", "synthea", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("shareddata: no Synthea bundles: %v", err)
	}
	return files
}
