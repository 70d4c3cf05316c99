package filter

import (
	"errors"
	"testing"

	"github.com/smartgate/smartgate/scim/schema"
)

var fuzzSeeds = []string{
	`userName eq "bjensen"`,
	`name.familyName co "O'Malley"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`title pr and userType eq "Employee"`,
	`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
	`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
	`emails[type eq "work"].value`,
	`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x"`,
	`active eq false`, `title eq null`, `displayName eq "a\"b\u00e9"`, `x eq 1.5e3`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, r := range schema.Resources() {
			fl, err := Parse(r, in)
			if err != nil {
				if !errors.Is(err, ErrInvalidFilter) {
					t.Fatalf("Parse(%q): %v does not wrap ErrInvalidFilter", in, err)
				}
				continue
			}
			if fl == nil {
				t.Fatalf("Parse(%q): nil filter without an error", in)
			}
			checkTree(t, in, fl, false)
			Match(fl, map[string]any{"value": "x", "type": "work", "primary": true})
		}
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, r := range schema.Resources() {
			p, err := ParsePath(r, in)
			if err != nil {
				if !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("ParsePath(%q): %v does not wrap ErrInvalidPath", in, err)
				}
				continue
			}
			if p.Attr != p.Top.Path || p.Top.Parent != nil || p.Target.Top != p.Attr {
				t.Fatalf("ParsePath(%q): inconsistent %+v", in, p)
			}
			if (p.Sub == "") != (p.Target.Parent == nil) {
				t.Fatalf("ParsePath(%q): Sub %q with target %s", in, p.Sub, p.Target.Path)
			}
			if p.Filter != nil {
				if !p.Top.Attribute.MultiValued {
					t.Fatalf("ParsePath(%q): value filter on %s", in, p.Attr)
				}
				checkPrefix(t, in, p.Filter, p.Attr+".")
				Match(p.Filter, map[string]any{"value": "x"})
			}
			if s, err := ParseSortBy(r, in); err == nil && s != p.Canonical() {
				t.Fatalf("ParseSortBy(%q) = %q, path %q", in, s, p.Canonical())
			}
		}
	})
}
