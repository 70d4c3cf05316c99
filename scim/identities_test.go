package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/scim"
)

const smartURN = "urn:ietf:params:scim:schemas:extension:smartgate:2.0:User"

func linkStore(e *env) account.Links { return e.db }

// countingLinks counts the reads the server makes.
type countingLinks struct {
	account.Links
	mu          sync.Mutex
	one, ofList int
}

func (c *countingLinks) LinksOf(ctx context.Context, userID string) ([]account.Link, error) {
	c.mu.Lock()
	c.one++
	c.mu.Unlock()
	return c.Links.LinksOf(ctx, userID)
}

func (c *countingLinks) LinksOfUsers(ctx context.Context, ids []string) (map[string][]account.Link, error) {
	c.mu.Lock()
	c.ofList++
	c.mu.Unlock()
	return c.Links.LinksOfUsers(ctx, ids)
}

func (c *countingLinks) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.one, c.ofList
}

// newLinksEnv is an env whose server shows the links of a linkStore.
func newLinksEnv(t *testing.T) (*env, *countingLinks) {
	t.Helper()
	links := &countingLinks{}
	e := newEnv(t, func(c *scim.Config) { c.Links = links })
	links.Links = linkStore(e)
	return e, links
}

var linkTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func (e *env) link(links account.Links, userID, provider, issuer, subject, email string, lastLogin time.Time) {
	e.t.Helper()
	l := &account.Link{Issuer: issuer, Subject: subject, UserID: userID, Provider: provider, Email: email,
		Created: linkTime, LastLogin: lastLogin}
	if err := links.CreateLink(context.Background(), l); err != nil {
		e.t.Fatal(err)
	}
}

// identitiesOf returns the identities of a rendered User, as
// "provider issuer subject email created lastLogin" lines.
func identitiesOf(t *testing.T, m map[string]any) []string {
	t.Helper()
	sg, _ := m[smartURN].(map[string]any)
	raw, _ := sg["identities"].([]any)
	var out []string
	for _, x := range raw {
		o, _ := x.(map[string]any)
		out = append(out, fmt.Sprint(o["provider"], " ", o["issuer"], " ", o["subject"], " ", o["email"], " ", o["created"], " ", o["lastLogin"]))
	}
	return out
}

func TestUserShowsItsIdentities(t *testing.T) {
	e, links := newLinksEnv(t)
	id, created := e.createUser(aliceBody)
	if got := identitiesOf(t, created.json(t)); got != nil {
		t.Errorf("a new user shows identities %v", got)
	}
	e.link(links, id, "google", "https://accounts.google.com", "g-123", "alice@gmail.example", time.Time{})
	e.link(links, id, "hl7", "https://id.hl7.example", "h-9", "", linkTime.Add(time.Hour))

	m := e.do("GET", "/scim/v2/Users/"+id, "").want(t, http.StatusOK).json(t)
	want := []string{
		"google https://accounts.google.com g-123 alice@gmail.example 2026-03-04T05:06:07Z <nil>",
		"hl7 https://id.hl7.example h-9 <nil> 2026-03-04T05:06:07Z 2026-03-04T06:06:07Z",
	}
	if got := identitiesOf(t, m); !slices.Equal(got, want) {
		t.Errorf("identities\n got %q\nwant %q", got, want)
	}

	// Projections: asked for alone, it is there; excluded, it is not read.
	one, _ := links.counts()
	m = e.do("GET", "/scim/v2/Users/"+id+"?attributes="+url.QueryEscape(smartURN+":identities"), "").want(t, http.StatusOK).json(t)
	if got := identitiesOf(t, m); len(got) != 2 || m["userName"] != nil {
		t.Errorf("attributes=identities: %v", m)
	}
	m = e.do("GET", "/scim/v2/Users/"+id+"?excludedAttributes="+url.QueryEscape(smartURN+":identities"), "").want(t, http.StatusOK).json(t)
	if got := identitiesOf(t, m); got != nil || m["userName"] == nil {
		t.Errorf("excludedAttributes=identities: %v", m)
	}
	if now, _ := links.counts(); now != one+1 {
		t.Errorf("%d LinksOf reads for two GETs, one of which excludes identities; want 1", now-one)
	}
}

func TestListShowsIdentitiesInOneReadPerPage(t *testing.T) {
	e, links := newLinksEnv(t)
	var ids []string
	for i := range 5 {
		id, _ := e.createUser(fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d"}`, i))
		ids = append(ids, id)
	}
	e.link(links, ids[1], "google", "https://accounts.google.com", "g-1", "", time.Time{})
	e.link(links, ids[3], "facebook", "https://www.facebook.com", "f-3", "", time.Time{})
	one, list := links.counts()

	m := e.do("GET", "/scim/v2/Users?sortBy=userName", "").want(t, http.StatusOK).json(t)
	res, _ := m["Resources"].([]any)
	if len(res) != 5 {
		t.Fatalf("%d resources: %v", len(res), m)
	}
	for i, r := range res {
		got := identitiesOf(t, r.(map[string]any))
		switch i {
		case 1:
			if len(got) != 1 || !strings.HasPrefix(got[0], "google https://accounts.google.com g-1 ") {
				t.Errorf("user1 identities %v", got)
			}
		case 3:
			if len(got) != 1 || !strings.HasPrefix(got[0], "facebook https://www.facebook.com f-3 ") {
				t.Errorf("user3 identities %v", got)
			}
		default:
			if got != nil {
				t.Errorf("user%d identities %v, want none", i, got)
			}
		}
	}
	if o, l := links.counts(); o != one || l != list+1 {
		t.Errorf("a list of 5 read links %d times one by one and %d times by page; want 0 and 1", o-one, l-list)
	}
}

func TestIdentitiesAreReadOnly(t *testing.T) {
	e, links := newLinksEnv(t)
	id, _ := e.createUser(aliceBody)
	e.link(links, id, "google", "https://accounts.google.com", "g-123", "alice@gmail.example", time.Time{})
	forged := `"identities":[{"provider":"evil","issuer":"https://evil.example","subject":"x"}]`

	// PUT with identities: accepted, the value ignored, the links kept.
	put := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + smartURN + `"],"userName":"alice@example.org",` +
		`"` + smartURN + `":{"fhirUser":"Practitioner/alice","roles":["practitioner"],` + forged + `}}`
	m := e.do("PUT", "/scim/v2/Users/"+id, put).want(t, http.StatusOK).json(t)
	if got := identitiesOf(t, m); len(got) != 1 || !strings.HasPrefix(got[0], "google ") {
		t.Errorf("PUT answer identities %v", got)
	}
	// A POST's identities are ignored too, whatever their shape.
	nid, r := e.createUser(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + smartURN + `"],"userName":"bob",` +
		`"` + smartURN + `":{"identities":"not even a list"}}`)
	if got := identitiesOf(t, r.json(t)); got != nil {
		t.Errorf("POST answer identities %v", got)
	}

	// PATCH on identities: 400 mutability, whichever way it is addressed.
	for _, op := range []string{
		`{"op":"add","path":"` + smartURN + `:identities","value":[{"issuer":"https://evil.example","subject":"x"}]}`,
		`{"op":"replace","path":"` + smartURN + `:identities","value":[]}`,
		`{"op":"remove","path":"` + smartURN + `:identities"}`,
		`{"op":"replace","path":"` + smartURN + `:identities[issuer eq \"https://accounts.google.com\"].subject","value":"y"}`,
	} {
		e.do("PATCH", "/scim/v2/Users/"+id, patchBody(op)).wantError(t, http.StatusBadRequest, "mutability")
	}

	got, err := links.LinksOfUsers(context.Background(), []string{id, nid})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[id]) != 1 || got[id][0].Issuer != "https://accounts.google.com" || got[id][0].Subject != "g-123" || len(got[nid]) != 0 {
		t.Errorf("links after the writes: %+v", got)
	}
	if _, err := links.LinkOf(context.Background(), "https://evil.example", "x"); err == nil {
		t.Error("a SCIM write made a link")
	}
}

func TestFilterOnIdentitiesIsRefused(t *testing.T) {
	e, _ := newLinksEnv(t)
	for _, f := range []string{
		smartURN + `:identities.issuer eq "https://accounts.google.com"`,
		smartURN + `:identities[issuer eq "https://accounts.google.com"]`,
	} {
		m := e.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), "").wantError(t, http.StatusBadRequest, "invalidFilter")
		if d, _ := m["detail"].(string); !strings.Contains(d, "identities") || !strings.Contains(d, "cannot be filtered on") {
			t.Errorf("filter %s: detail %q does not say identities cannot be filtered on", f, d)
		}
	}
}

func TestWithoutLinksIdentitiesAreAbsent(t *testing.T) {
	e := newEnv(t)
	id, _ := e.createUser(aliceBody)
	m := e.do("GET", "/scim/v2/Users/"+id, "").want(t, http.StatusOK).json(t)
	sg, _ := m[smartURN].(map[string]any)
	if _, ok := sg["identities"]; ok || sg["fhirUser"] != "Practitioner/alice" {
		t.Errorf("smartgate extension without a LinkReader: %v", sg)
	}
}

func TestSchemasListIdentities(t *testing.T) {
	e := newEnv(t)
	m := e.do("GET", "/scim/v2/Schemas/"+smartURN, "").want(t, http.StatusOK).json(t)
	attrs, _ := m["attributes"].([]any)
	var ids map[string]any
	for _, a := range attrs {
		if o, _ := a.(map[string]any); o["name"] == "identities" {
			ids = o
		}
	}
	if ids == nil || ids["type"] != "complex" || ids["multiValued"] != true || ids["mutability"] != "readOnly" {
		t.Fatalf("identities in /Schemas: %v", ids)
	}
	var subs []string
	for _, s := range ids["subAttributes"].([]any) {
		o := s.(map[string]any)
		if o["mutability"] != "readOnly" {
			t.Errorf("sub-attribute %v is not readOnly", o["name"])
		}
		subs = append(subs, fmt.Sprint(o["name"], ":", o["type"]))
	}
	want := []string{"provider:string", "issuer:string", "subject:string", "email:string", "created:dateTime", "lastLogin:dateTime"}
	if !slices.Equal(subs, want) {
		t.Errorf("sub-attributes %v, want %v", subs, want)
	}
	// And in the list of every schema.
	if all := e.do("GET", "/scim/v2/Schemas", "").want(t, http.StatusOK); !strings.Contains(string(all.body), `"identities"`) {
		t.Error("/Schemas does not list identities")
	}
}
