package rs_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNoServerPackage: the package is for any Go service, so it
// imports nothing of smartgate's but the scope grammar (issue 14, Build 3).
func TestImportsNoServerPackage(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "github.com/smartgate/smartgate/authz/smart",
				strings.HasPrefix(path, "github.com/go-jose/go-jose/v4"),
				!strings.Contains(strings.Split(path, "/")[0], "."): // the standard library
			default:
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
