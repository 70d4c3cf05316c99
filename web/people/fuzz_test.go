package people

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
)

// FuzzUserForm: any person form parses without panicking, and a form it
// finds free of mistakes holds what account.User.Validate accepts.
func FuzzUserForm(f *testing.F) {
	f.Add("Ada", "Ada", "ada@example.org", "Patient/1", "patient", "Ada L.")
	f.Add("<script>", "\x00", "a@b@c", "Patient/../x", "admin", "<b>")
	f.Add("ÅSA", "", "\"x\" <x@y.example>", "Practitioner/abc", "superuser", "")
	f.Fuzz(func(t *testing.T, userName, given, email, fhirUser, role, display string) {
		form := url.Values{"userName": {userName}, "givenName": {given}, "displayName": {display}, "email": {email},
			"fhirUser": {fhirUser}, "roles": {role}, "active": {"1"}}
		r := httptest.NewRequest("POST", UsersPath+"/new", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			return
		}
		uf := userFormFrom(r)
		if len(uf.Errors) > 0 {
			return
		}
		u := &account.User{}
		uf.apply(u)
		if err := u.Validate(); err != nil {
			t.Fatalf("form without mistakes gives an invalid user %+v: %v", u, err)
		}
	})
}

// FuzzSearchFilter: any search builds a filter of at most maxSearchWords
// words, each an Or of "co" comparisons over the given attributes.
func FuzzSearchFilter(f *testing.F) {
	f.Add("ada lovelace")
	f.Add("  \t")
	f.Add(`a b c d e f g "h" ) or 1 eq 1`)
	f.Fuzz(func(t *testing.T, q string) {
		got := searchFilter(q, userSearchAttrs)
		words := min(len(strings.Fields(q)), maxSearchWords)
		if n := countCompares(t, got); n != words*len(userSearchAttrs) {
			t.Fatalf("%q: %d comparisons, want %d", q, n, words*len(userSearchAttrs))
		}
	})
}

func countCompares(t *testing.T, f account.Filter) int {
	switch f := f.(type) {
	case nil:
		return 0
	case account.And:
		return countCompares(t, f.Left) + countCompares(t, f.Right)
	case account.Or:
		return countCompares(t, f.Left) + countCompares(t, f.Right)
	case account.Compare:
		if f.Op != account.OpCo || f.CaseExact {
			t.Fatalf("comparison %+v", f)
		}
		return 1
	}
	t.Fatalf("unexpected node %T", f)
	return 0
}

func TestInvalidMessageKeepsTheReason(t *testing.T) {
	err := fmt.Errorf("account: create: %w", fmt.Errorf("%w: unknown role %q", account.ErrInvalidUser, "x"))
	if got, want := invalidMessage(err), `The change was refused: unknown role "x".`; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	if got := invalidMessage(account.ErrInvalidUser); got != "The change was refused as invalid." {
		t.Errorf("%q", got)
	}
}
