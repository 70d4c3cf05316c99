package filter

import (
	"testing"

	"github.com/smartgate/smartgate/scim/schema"
)

func TestMatch(t *testing.T) {
	work := map[string]any{"type": "work", "value": "Babs@Example.com", "primary": true}
	home := map[string]any{"TYPE": "home", "value": "babs@jensen.org"}
	member := map[string]any{"value": "2819C223", "display": "Babs"}
	cases := []struct {
		res  *schema.Resource
		path string
		elem map[string]any
		want bool
	}{
		{schema.User(), `emails[type eq "work"]`, work, true},
		{schema.User(), `emails[type eq "WORK"]`, work, true}, // emails.type is caseExact false
		{schema.User(), `emails[type eq "work"]`, home, false},
		{schema.User(), `emails[type eq "home"]`, home, true}, // keys compare case-insensitively
		{schema.User(), `emails[type ne "work"]`, home, true},
		{schema.User(), `emails[value co "@example.com"]`, work, true},
		{schema.User(), `emails[value sw "babs"]`, work, true},
		{schema.User(), `emails[value ew ".ORG"]`, home, true},
		{schema.User(), `emails[value gt "a"]`, work, true},
		{schema.User(), `emails[value lt "a"]`, work, false},
		{schema.User(), `emails[primary eq true]`, work, true},
		{schema.User(), `emails[primary eq true]`, home, false},
		{schema.User(), `emails[primary ne true]`, home, true},
		{schema.User(), `emails[primary eq true]`, map[string]any{"primary": "True"}, true},
		{schema.User(), `emails[primary pr]`, home, false},
		{schema.User(), `emails[value pr]`, map[string]any{"value": ""}, false},
		{schema.User(), `emails[type eq "work" and value co "example"]`, work, true},
		{schema.User(), `emails[type eq "home" or value co "example"]`, work, true},
		{schema.User(), `emails[not (type eq "work")]`, work, false},
		{schema.User(), `emails[type eq null]`, home, false},
		{schema.User(), `emails[primary eq null]`, home, true},
		{schema.User(), `emails[type eq "work"]`, map[string]any{"type": 5}, false},
		{schema.Group(), `members[value eq "2819c223"]`, member, false}, // members.value is caseExact
		{schema.Group(), `members[value eq "2819C223"]`, member, true},
		{schema.Group(), `members[display eq "babs"]`, member, true},
	}
	for _, c := range cases {
		p, err := ParsePath(c.res, c.path)
		if err != nil {
			t.Errorf("ParsePath(%s): %v", c.path, err)
			continue
		}
		if got := Match(p.Filter, c.elem); got != c.want {
			t.Errorf("Match(%s, %v) = %v, want %v", c.path, c.elem, got, c.want)
		}
	}
}
