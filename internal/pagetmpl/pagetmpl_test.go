package pagetmpl

import (
	"html/template"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParse(t *testing.T) {
	assets := fstest.MapFS{
		"templates/base.html":  {Data: []byte(`{{define "base"}}[{{template "nav" .}}|{{template "body" .}}]{{end}}`)},
		"templates/nav.html":   {Data: []byte(`{{define "nav"}}nav{{end}}{{define "extra"}}first{{end}}`)},
		"templates/extra.html": {Data: []byte(`{{define "extra"}}second{{end}}`)},
		"templates/one.html":   {Data: []byte(`{{define "body"}}one {{up .}} {{template "extra"}}{{end}}`)},
		"templates/two.html":   {Data: []byte(`{{define "body"}}two{{end}}`)},
	}
	funcs := template.FuncMap{"up": strings.ToUpper}
	pages, err := Parse(assets, funcs, []string{"nav", "extra"}, "one", "two")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"one": "[nav|one X second]", "two": "[nav|two]"} {
		var b strings.Builder
		if err := pages[name].ExecuteTemplate(&b, "base", "x"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b.String() != want {
			t.Errorf("%s = %q, want %q", name, b.String(), want)
		}
		if pages[name].Name() != name {
			t.Errorf("%s: template name %q", name, pages[name].Name())
		}
	}
	if len(pages) != 2 {
		t.Errorf("got %d pages, want 2", len(pages))
	}

	// No funcs: fine for pages that call none.
	if _, err := Parse(assets, nil, []string{"nav", "extra"}, "two"); err != nil {
		t.Errorf("nil funcs: %v", err)
	}
	// A missing page or partial fails, naming the page.
	for _, c := range []struct {
		shared []string
		name   string
	}{{nil, "missing"}, {[]string{"nav", "nope"}, "two"}} {
		_, err := Parse(assets, nil, c.shared, c.name)
		if err == nil || !strings.Contains(err.Error(), "template "+c.name) {
			t.Errorf("Parse(%v, %s) err = %v, want one naming %s", c.shared, c.name, err, c.name)
		}
	}
}
