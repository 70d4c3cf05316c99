package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestReplayMatchers: the replay's checks accept what they should and
// catch what they should (so that a passing replay means something).
func TestReplayMatchers(t *testing.T) {
	doc := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	actual := doc(`{"id":"u1","Active":false,"emails":[{"value":"a@x","type":"home"},{"value":"b@x","type":"work","primary":true}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}},"Resources":[]}`)
	for _, c := range []struct {
		expected string
		ok       bool
	}{
		{`{"id":"u1"}`, true},
		{`{"active":false}`, true}, // attribute names are case-insensitive
		{`{"emails":[{"type":"work","value":"b@x"}]}`, true},
		{`{"emails":[{"type":"work","value":"a@x"}]}`, false},
		{`{"emails":[{"value":"b@x"},{"value":"b@x"}]}`, false}, // one element per expectation
		{`{"Resources":[]}`, true},
		{`{"missing":[]}`, true}, // [] is empty or absent
		{`{"emails":[]}`, false},
		{`{"id":"u2"}`, false},
		{`{"Active":"false"}`, false},
		{`{"nope":1}`, false},
		{`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`, true},
	} {
		if err := jsonSubset("", doc(c.expected), actual); (err == nil) != c.ok {
			t.Errorf("jsonSubset(%s): %v, want ok=%v", c.expected, err, c.ok)
		}
	}
	for path, want := range map[string]bool{"emails.1.type": true, "emails.2": false, "Resources.0": false,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value": true, "id.x": false} {
		if _, found := jsonAt(actual, path); found != want {
			t.Errorf("jsonAt(%s) found %v, want %v", path, found, want)
		}
	}

	scimHdr := http.Header{"Content-Type": {"application/scim+json; charset=utf-8"}, "Etag": {`W/"2"`}}
	for _, c := range []struct {
		name   string
		resp   response
		broken string // "" when the answer follows the rules
	}{
		{"a resource", response{status: 200, header: scimHdr, body: []byte(`{"schemas":["s"],"meta":{"version":"W/\"2\""}}`)}, ""},
		{"ETag and version differ", response{status: 200, header: scimHdr, body: []byte(`{"schemas":["s"],"meta":{"version":"W/\"3\""}}`)}, "ETag"},
		{"plain JSON", response{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"schemas":["s"]}`)}, "Content-Type"},
		{"204 with a body", response{status: 204, header: scimHdr, body: []byte(`{}`)}, "204"},
		{"error status as a number", response{status: 404, header: scimHdr,
			body: []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":404}`)}, "error status"},
		{"an error", response{status: 404, header: scimHdr,
			body: []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404"}`)}, ""},
		{"more Resources than totalResults", response{status: 200, header: scimHdr,
			body: []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[{}]}`)}, "totalResults"},
		{"201 Location differs", response{status: 201, header: http.Header{"Content-Type": {"application/scim+json"}, "Location": {"https://a/Users/1"}},
			body: []byte(`{"schemas":["s"],"meta":{"location":"https://a/Users/2"}}`)}, "Location"},
	} {
		errs := scimResponseRules(&c.resp)
		got := strings.Join(errs, "; ")
		if (c.broken == "") != (len(errs) == 0) || (c.broken != "" && !strings.Contains(got, c.broken)) {
			t.Errorf("%s: rules say %q, want %q", c.name, got, c.broken)
		}
	}
}
