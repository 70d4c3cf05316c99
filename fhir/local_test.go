package fhir_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/audit/fhirview"
	"github.com/smartgate/smartgate/fhir"
)

// auditReader is a Principal allowed everything on every type; admin says
// whether it also speaks for an administrator. A non-administrator with
// such a token (a practitioner's user/*.rs) is still refused AuditEvent.
type auditReader struct{ admin bool }

func (a auditReader) Authenticate(*http.Request) (fhir.Principal, error) { return a, nil }
func (auditReader) Authorize(context.Context, fhir.AccessRequest) error  { return nil }
func (auditReader) ReachesAll(context.Context, fhir.Interaction, string) bool {
	return true
}
func (auditReader) Restrict(context.Context, fhir.Interaction, string) (fhir.Restriction, error) {
	return fhir.Restriction{}, nil
}
func (a auditReader) Administrator() bool { return a.admin }

// bodyTripwire counts the reads of a request body by the handler.
type bodyTripwire struct {
	io.ReadCloser
	reads *atomic.Int64
}

func (b bodyTripwire) Read(p []byte) (int, error) {
	b.reads.Add(1)
	return b.ReadCloser.Read(p)
}

// TestLocalSearchDecidesBeforeReadingTheBody: a POST
// /fhir/AuditEvent/_search from a non-administrator is refused 403 before
// its form is read, whatever the form (malformed, too large, of the wrong
// media type); an administrator's same requests reach the form and get its
// errors, and a well-formed one a searchset.
func TestLocalSearchDecidesBeforeReadingTheBody(t *testing.T) {
	db := openStore(t)
	if err := db.InsertAudit(context.Background(), []audit.Event{
		{Kind: "fhir", Actor: "doc", Patient: "p1", Action: "read", Resource: "Patient/p1", Outcome: "success"},
		{Kind: "login", Actor: "lind", Outcome: "success"},
	}); err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	serve := func(admin bool) string {
		srv := fhir.New(fhir.Config{
			Registry:     registry(t),
			Auth:         auditReader{admin: admin},
			MaxBodyBytes: 8 << 20,
			LocalTypes:   map[string]fhir.LocalType{"AuditEvent": &fhirview.View{Store: db}},
		}, db, nil)
		mux := http.NewServeMux()
		srv.Register(mux)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = bodyTripwire{ReadCloser: r.Body, reads: &reads}
			mux.ServeHTTP(w, r)
		}))
		t.Cleanup(ts.Close)
		return ts.URL + "/fhir"
	}
	bases := map[bool]string{false: serve(false), true: serve(true)}

	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, contentType, body string
		admin                   int // the administrator's status
	}{
		{"well-formed", form, "_count=1", http.StatusOK},
		{"malformed", form, "type=%zz&", http.StatusBadRequest},
		{"too large", form, "type=" + strings.Repeat("a", 1<<20+1), http.StatusBadRequest},
		{"not a form", "application/fhir+json", `{"resourceType":"Parameters"}`, http.StatusUnsupportedMediaType},
	}
	post := func(t *testing.T, admin bool, contentType, body string) *response {
		t.Helper()
		req, err := http.NewRequest("POST", bases[admin]+"/AuditEvent/_search", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, raw)
		}
		return r
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reads.Store(0)
			r := post(t, false, tc.contentType, tc.body)
			r.wantOutcome(t, http.StatusForbidden)
			if n := reads.Load(); n != 0 {
				t.Errorf("non-administrator: the handler read the body (%d reads) before refusing", n)
			}
			if !strings.Contains(string(r.raw), "administrators only") {
				t.Errorf("non-administrator: %s", r.raw)
			}

			r = post(t, true, tc.contentType, tc.body)
			if tc.admin != http.StatusOK {
				r.wantOutcome(t, tc.admin)
				return
			}
			r.want(t, http.StatusOK)
			if r.body["resourceType"] != "Bundle" || r.body["type"] != "searchset" {
				t.Fatalf("administrator: %s", r.raw)
			}
			if entries, _ := r.body["entry"].([]any); len(entries) != 1 {
				t.Errorf("administrator: _count=1 from the form gave %d entries: %s", len(entries), r.raw)
			}
		})
	}

	// Read: refused as early, and allowed to the administrator.
	c := &client{t: t, base: bases[false]}
	c.do("GET", "/AuditEvent/1", nil).wantOutcome(t, http.StatusForbidden)
	c.do("GET", "/AuditEvent?_count=zz", nil).wantOutcome(t, http.StatusForbidden)
	c = &client{t: t, base: bases[true]}
	if r := c.do("GET", "/AuditEvent/1", nil).want(t, http.StatusOK); r.body["resourceType"] != "AuditEvent" {
		t.Errorf("administrator read: %s", r.raw)
	}
	c.do("GET", "/AuditEvent?_count=zz", nil).wantOutcome(t, http.StatusBadRequest)
}
