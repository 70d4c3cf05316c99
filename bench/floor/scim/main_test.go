package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestFloor seeds a small store and checks both requests: the seeded and
// the created person are found by userName (case-insensitively), a taken
// userName is a 409, a miss is an empty ListResponse.
func TestFloor(t *testing.T) {
	db := filepath.Join(t.TempDir(), "floor.db")
	if err := seedCmd([]string{"-db", db, "-n", "50"}); err != nil {
		t.Fatal(err)
	}
	w, err := open(db, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := open(db, true, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h, err := newHandler(t.Context(), w, r)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	srv := httptest.NewServer(h.mux())
	defer srv.Close()

	total := func(name string) int {
		t.Helper()
		resp, err := http.Get(srv.URL + "/scim/v2/Users?filter=" + url.QueryEscape(`userName eq "`+name+`"`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var lr struct {
			TotalResults int              `json:"totalResults"`
			Resources    []map[string]any `json:"Resources"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || resp.StatusCode != 200 || len(lr.Resources) != lr.TotalResults {
			t.Fatalf("filter %s: %d %v %+v", name, resp.StatusCode, err, lr)
		}
		return lr.TotalResults
	}
	if total("person-37@bench.example") != 1 || total("PERSON-37@bench.example") != 1 || total("person-51@bench.example") != 0 {
		t.Fatal("seeded people not found as expected")
	}
	post := func() int {
		resp, err := http.Post(srv.URL+"/scim/v2/Users", "application/scim+json",
			strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new@bench.example"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if st := post(); st != http.StatusConflict {
		t.Fatalf("create again: %d, want 409", st)
	}
	if total("new@bench.example") != 1 {
		t.Fatal("created person not found")
	}
}
