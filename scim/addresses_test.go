package scim_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/smartgate/smartgate/account"
)

// The addresses of RFC 7643 §8.2's full User.
const (
	workAddress = `{"type":"work","streetAddress":"100 Universal City Plaza","locality":"Hollywood","region":"CA",
		"postalCode":"91608","country":"USA","formatted":"100 Universal City Plaza\nHollywood, CA 91608 USA","primary":true}`
	homeAddress = `{"type":"home","streetAddress":"456 Hollywood Blvd","locality":"Hollywood","region":"CA",
		"postalCode":"91608","country":"USA","formatted":"456 Hollywood Blvd\nHollywood, CA 91608 USA"}`
	addressedBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen",
		"addresses":[` + workAddress + `,` + homeAddress + `]}`
)

var (
	work = account.Address{Formatted: "100 Universal City Plaza\nHollywood, CA 91608 USA", StreetAddress: "100 Universal City Plaza",
		Locality: "Hollywood", Region: "CA", PostalCode: "91608", Country: "USA", Type: "work", Primary: true}
	home = account.Address{Formatted: "456 Hollywood Blvd\nHollywood, CA 91608 USA", StreetAddress: "456 Hollywood Blvd",
		Locality: "Hollywood", Region: "CA", PostalCode: "91608", Country: "USA", Type: "home"}
)

// storedAddresses returns the addresses the store holds for id.
func (e *env) storedAddresses(id string) []account.Address {
	e.t.Helper()
	u, err := e.db.User(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Profile.Addresses
}

func wantAddresses(t *testing.T, what string, got, want []account.Address) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: addresses\n got %+v\nwant %+v", what, got, want)
	}
}

// TestAddressesKept: addresses sent in a POST are stored, returned by GET
// and in lists, and projected by attributes and excludedAttributes.
func TestAddressesKept(t *testing.T) {
	e := newEnv(t)
	id, r := e.createUser(addressedBody)
	wantAddresses(t, "stored", e.storedAddresses(id), []account.Address{work, home})
	wantJSON := `[{"country":"USA","formatted":"100 Universal City Plaza\nHollywood, CA 91608 USA","locality":"Hollywood","postalCode":"91608","primary":true,"region":"CA","streetAddress":"100 Universal City Plaza","type":"work"},` +
		`{"country":"USA","formatted":"456 Hollywood Blvd\nHollywood, CA 91608 USA","locality":"Hollywood","postalCode":"91608","primary":false,"region":"CA","streetAddress":"456 Hollywood Blvd","type":"home"}]`
	if got := string(mustJSON(r.json(t)["addresses"])); got != wantJSON {
		t.Errorf("POST answer addresses\n got %s\nwant %s", got, wantJSON)
	}
	if got := string(mustJSON(e.do("GET", "/scim/v2/Users/"+id, "").want(t, http.StatusOK).json(t)["addresses"])); got != wantJSON {
		t.Errorf("GET addresses\n got %s\nwant %s", got, wantJSON)
	}

	list := func(query string) map[string]any {
		t.Helper()
		m := e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "bjensen"`)+"&"+query, "").want(t, http.StatusOK).json(t)
		res, _ := m["Resources"].([]any)
		if len(res) != 1 {
			t.Fatalf("list %s: %v", query, m)
		}
		return res[0].(map[string]any)
	}
	if got := string(mustJSON(list("")["addresses"])); got != wantJSON {
		t.Errorf("list addresses\n got %s\nwant %s", got, wantJSON)
	}
	only := list("attributes=addresses.locality")
	if got := string(mustJSON(only["addresses"])); got != `[{"locality":"Hollywood"},{"locality":"Hollywood"}]` || only["userName"] != nil || only["id"] != id {
		t.Errorf("attributes=addresses.locality: %v", only)
	}
	if got := list("excludedAttributes=addresses"); got["addresses"] != nil || got["userName"] != "bjensen" {
		t.Errorf("excludedAttributes=addresses: %v", got)
	}
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"bjensen\"","attributes":["urn:ietf:params:scim:schemas:core:2.0:User:addresses"]}`
	m := e.do("POST", "/scim/v2/Users/.search", body).want(t, http.StatusOK).json(t)
	if res, _ := m["Resources"].([]any); len(res) != 1 || string(mustJSON(res[0].(map[string]any)["addresses"])) != wantJSON {
		t.Errorf(".search with attributes: %v", m)
	}
}

// TestAddressesReplaced: a PUT replaces the addresses, and one without
// them clears them; an address with no component is not kept.
func TestAddressesReplaced(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(addressedBody)
	put := func(addresses string) *resp {
		t.Helper()
		return e.do("PUT", "/scim/v2/Users/"+id, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"`+addresses+`}`)
	}
	put(`,"addresses":[`+homeAddress+`,{"type":"other","primary":"True"}]`).want(t, http.StatusOK)
	wantAddresses(t, "PUT of the home address", e.storedAddresses(id), []account.Address{home})
	put(``).want(t, http.StatusOK)
	wantAddresses(t, "PUT without addresses", e.storedAddresses(id), nil)
	if m := e.do("GET", "/scim/v2/Users/"+id, "").want(t, http.StatusOK).json(t); m["addresses"] != nil {
		t.Errorf("GET after clearing: %v", m["addresses"])
	}

	for _, bad := range []string{
		`,"addresses":[{"type":"work","street":"1 Main St"}]`,
		`,"addresses":[{"type":"work","postalCode":62701}]`,
		`,"addresses":{"type":"work","formatted":"1 Main St"}`,
		`,"addresses":["1 Main St"]`,
		`,"addresses":[{"formatted":"1 Main St","primary":"maybe"}]`,
	} {
		put(bad).wantError(t, http.StatusBadRequest, "invalidValue")
	}
	wantAddresses(t, "after refused PUTs", e.storedAddresses(id), nil)
}

// TestAddressesPatch: the PATCH requests of Entra ID's default attribute
// mapping (one operation per component of the work address) and Okta's
// replacement of the whole list.
func TestAddressesPatch(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}`)
	patch := func(ops ...string) *resp {
		t.Helper()
		return e.do("PATCH", "/scim/v2/Users/"+id, patchBody(ops...))
	}
	r := patch(
		`{"op":"Add","path":"addresses[type eq \"work\"].streetAddress","value":"1 Main St"}`,
		`{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Springfield"}`,
		`{"op":"Add","path":"addresses[type eq \"work\"].region","value":"IL"}`,
		`{"op":"Add","path":"addresses[type eq \"work\"].postalCode","value":"62701"}`,
		`{"op":"Add","path":"addresses[type eq \"work\"].country","value":"US"}`,
	).want(t, http.StatusOK)
	entra := account.Address{StreetAddress: "1 Main St", Locality: "Springfield", Region: "IL", PostalCode: "62701", Country: "US", Type: "work"}
	wantAddresses(t, "Entra ID add", e.storedAddresses(id), []account.Address{entra})
	if got := string(mustJSON(r.json(t)["addresses"])); got != `[{"country":"US","locality":"Springfield","postalCode":"62701","primary":false,"region":"IL","streetAddress":"1 Main St","type":"work"}]` {
		t.Errorf("PATCH answer addresses %s", got)
	}
	if r.header.Get("ETag") != `W/"2"` {
		t.Errorf("ETag %q after the first PATCH", r.header.Get("ETag"))
	}

	// The same values again change nothing (and keep the version).
	if r := patch(`{"op":"Add","path":"addresses[type eq \"work\"].locality","value":"Springfield"}`).want(t, http.StatusOK); r.header.Get("ETag") != `W/"2"` {
		t.Errorf("ETag %q after a PATCH that changes nothing", r.header.Get("ETag"))
	}

	patch(`{"op":"Replace","value":{"addresses[type eq \"work\"].locality":"Chicago","addresses[type eq \"work\"].primary":"True"}}`).want(t, http.StatusOK)
	entra.Locality, entra.Primary = "Chicago", true
	wantAddresses(t, "Entra ID path-less replace", e.storedAddresses(id), []account.Address{entra})

	patch(`{"op":"Remove","path":"addresses[type eq \"work\"].country"}`).want(t, http.StatusOK)
	entra.Country = ""
	wantAddresses(t, "remove a component", e.storedAddresses(id), []account.Address{entra})

	patch(`{"op":"add","path":"addresses","value":[`+homeAddress+`]}`).want(t, http.StatusOK)
	wantAddresses(t, "add the home address", e.storedAddresses(id), []account.Address{entra, home})

	patch(`{"op":"remove","path":"addresses[type eq \"work\"]"}`).want(t, http.StatusOK)
	wantAddresses(t, "remove the work address", e.storedAddresses(id), []account.Address{home})

	patch(`{"op":"replace","path":"addresses","value":[`+workAddress+`]}`).want(t, http.StatusOK)
	wantAddresses(t, "Okta replace", e.storedAddresses(id), []account.Address{work})

	// Removing every component leaves no address.
	patch(`{"op":"remove","path":"addresses[type eq \"work\"].formatted"}`,
		`{"op":"remove","path":"addresses[type eq \"work\"].streetAddress"}`,
		`{"op":"remove","path":"addresses[type eq \"work\"].locality"}`,
		`{"op":"remove","path":"addresses[type eq \"work\"].region"}`,
		`{"op":"remove","path":"addresses[type eq \"work\"].postalCode"}`,
		`{"op":"remove","path":"addresses[type eq \"work\"].country"}`).want(t, http.StatusOK)
	wantAddresses(t, "every component removed", e.storedAddresses(id), nil)

	patch(`{"op":"add","path":"addresses[type eq \"work\"].street","value":"x"}`).wantError(t, http.StatusBadRequest, "invalidPath")
	patch(`{"op":"replace","path":"addresses[type eq \"home\"].locality","value":"x"}`).wantError(t, http.StatusBadRequest, "noTarget")
	patch(`{"op":"add","path":"addresses","value":[{"formatted":"a","primary":true},{"formatted":"b","primary":true}]}`).wantError(t, http.StatusBadRequest, "invalidValue")
	wantAddresses(t, "after refused PATCHes", e.storedAddresses(id), nil)
}

// TestAddressesNotFilterable: addresses are kept but the store does not
// filter or sort on them.
func TestAddressesNotFilterable(t *testing.T) {
	e := newEnv(t)
	e.createUser(addressedBody)
	for _, f := range []string{`addresses pr`, `addresses.locality eq "Hollywood"`, `addresses[type eq "work"]`} {
		e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), "").wantError(t, http.StatusBadRequest, "invalidFilter")
	}
}

// TestAddressesInSchema: the core User schema document describes
// addresses with the sub-attributes and canonical types of RFC 7643
// §8.7.1.
func TestAddressesInSchema(t *testing.T) {
	e := newEnv(t)
	m := e.do("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "").want(t, http.StatusOK).json(t)
	attrs, _ := m["attributes"].([]any)
	var addresses map[string]any
	for _, a := range attrs {
		if a := a.(map[string]any); a["name"] == "addresses" {
			addresses = a
		}
	}
	if addresses == nil || addresses["type"] != "complex" || addresses["multiValued"] != true || addresses["mutability"] != "readWrite" {
		t.Fatalf("addresses in the User schema: %v", addresses)
	}
	var names []string
	for _, s := range addresses["subAttributes"].([]any) {
		s := s.(map[string]any)
		names = append(names, s["name"].(string))
		if s["name"] == "type" && string(mustJSON(s["canonicalValues"])) != `["work","home","other"]` {
			t.Errorf("addresses.type: %v", s)
		}
	}
	if got := string(mustJSON(names)); got != `["formatted","streetAddress","locality","region","postalCode","country","type","primary"]` {
		t.Errorf("addresses sub-attributes %s", got)
	}
}
