// Package pagetmpl parses the server-rendered pages: each
// templates/<name>.html together with templates/base.html and the
// partials its package shares. It is the one copy of that loop for web,
// its page packages and launch (which web's tests reach through
// store/sqlite, so it cannot import web).
package pagetmpl

import (
	"fmt"
	"html/template"
	"io/fs"
	"slices"
)

// Parse parses, for each name, templates/<name>.html of assets together
// with templates/base.html and the shared partials (templates/<partial>.html,
// in the order given; of two {{define}}s of one name the later file's wins),
// with funcs (nil for none). Each page is a template called name; the pages
// execute it as "base".
func Parse(assets fs.FS, funcs template.FuncMap, shared []string, names ...string) (map[string]*template.Template, error) {
	files := make([]string, 0, len(shared)+1)
	files = append(files, "templates/base.html")
	for _, p := range shared {
		files = append(files, "templates/"+p+".html")
	}
	out := make(map[string]*template.Template, len(names))
	for _, name := range names {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, slices.Concat(files, []string{"templates/" + name + ".html"})...)
		if err != nil {
			return nil, fmt.Errorf("pagetmpl: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}
