package demo_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/demo"
	"github.com/smartgate/smartgate/store/sqlite"
)

func TestDemoBundlesImport(t *testing.T) {
	db, err := sqlite.Open(context.Background(), sqlite.Memory, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, _ := fs.Glob(demo.Bundles, "*.json")
	if len(files) != 3 {
		t.Fatalf("%d demo bundles", len(files))
	}
	for _, f := range files {
		fh, err := demo.Bundles.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Import(context.Background(), db, fh, fhir.ImportOptions{})
		fh.Close()
		if err != nil || res.Bundles != 1 || res.Resources == 0 {
			t.Fatalf("%s: %+v, %v", f, res, err)
		}
	}
}
