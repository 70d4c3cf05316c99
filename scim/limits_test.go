package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim"
)

// values is a JSON list of n entries made by one(i).
func values(n int, one func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = one(i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// TestMultiValuedCapped: a User's emails, phoneNumbers and addresses hold
// at most account.MaxValues entries, on create, PUT and PATCH: more is 400
// invalidValue and nothing changes.
func TestMultiValuedCapped(t *testing.T) {
	e := newEnv(t)
	emails := func(n int) string {
		return values(n, func(i int) string { return fmt.Sprintf(`{"value":"p%d@example.org"}`, i) })
	}
	phones := values(account.MaxValues+1, func(i int) string { return fmt.Sprintf(`{"value":"+1 555 %04d"}`, i) })
	addrs := values(account.MaxValues+1, func(i int) string { return fmt.Sprintf(`{"locality":"Town %d"}`, i) })
	body := func(name, attr, list string) string {
		return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + name + `","` + attr + `":` + list + `}`
	}
	for attr, list := range map[string]string{"emails": emails(account.MaxValues + 1), "phoneNumbers": phones, "addresses": addrs} {
		e.do("POST", "/scim/v2/Users", body("many-"+strings.ToLower(attr), attr, list)).wantError(t, http.StatusBadRequest, "invalidValue")
		if _, err := e.db.UserByName(context.Background(), "many-"+strings.ToLower(attr)); err == nil {
			t.Errorf("%s: the user was created", attr)
		}
	}
	id, _ := e.createUser(body("capped", "emails", emails(account.MaxValues)))
	e.do("PUT", "/scim/v2/Users/"+id, body("capped", "emails", emails(account.MaxValues+1))).wantError(t, http.StatusBadRequest, "invalidValue")
	e.do("PATCH", "/scim/v2/Users/"+id, patchBody(`{"op":"add","path":"emails","value":[{"value":"one-more@example.org"}]}`)).
		wantError(t, http.StatusBadRequest, "invalidValue")
	u, err := e.db.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Emails) != account.MaxValues || u.Meta.Version != 1 {
		t.Errorf("after the refused changes: %d emails, version %d", len(u.Emails), u.Meta.Version)
	}
}

// membersSpy records the withMembers of each SearchGroups.
type membersSpy struct {
	scim.Store
	with []bool
}

func (s *membersSpy) SearchGroups(ctx context.Context, q account.Query, withMembers bool) ([]account.Group, int, error) {
	s.with = append(s.with, withMembers)
	return s.Store.SearchGroups(ctx, q, withMembers)
}

// TestGroupListLoadsMembersOnlyWhenShown: members are not capped, so a
// list of groups reads them from the store only when the page shows them.
func TestGroupListLoadsMembersOnlyWhenShown(t *testing.T) {
	spy := &membersSpy{}
	e := newEnv(t, func(c *scim.Config) { spy.Store = c.Store; c.Store = spy })
	e.do("POST", "/scim/v2/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Ward"}`).want(t, http.StatusCreated)
	for query, want := range map[string]bool{
		"":                                       true,
		"?excludedAttributes=members":            false,
		"?attributes=displayName":                false,
		"?attributes=displayName,members":        true,
		"?excludedAttributes=displayName":        true,
		"?attributes=members.value":              true,
		"?excludedAttributes=externalId,members": false,
	} {
		spy.with = nil
		e.do("GET", "/scim/v2/Groups"+query, "").want(t, http.StatusOK)
		if len(spy.with) == 0 || spy.with[len(spy.with)-1] != want {
			t.Errorf("GET /Groups%s: withMembers %v, want %v", query, spy.with, want)
		}
	}
}
