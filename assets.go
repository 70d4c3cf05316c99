// Package smartgate holds the web assets (templates/ and static/) embedded in
// the binary. The code lives in the sub-packages; see README.md.
package smartgate

import (
	"embed"
	"io/fs"
	"os"
)

//go:embed templates static
var embedded embed.FS

// Assets returns the templates/ and static/ folders: the embedded copy, or,
// when dir is not empty (the development switch), the folders read from disk
// under dir so that pages can be edited without rebuilding.
func Assets(dir string) fs.FS {
	if dir != "" {
		return os.DirFS(dir)
	}
	return embedded
}
