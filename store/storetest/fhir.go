package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

// FHIRBackend is what RunFHIR and RunFHIRTransactions need: the FHIR
// endpoint's store.
type FHIRBackend interface {
	fhir.Store
}

// RunFHIR tests the FHIR resource store: versions, history, search. Its
// transaction and concurrency tests are in RunTransactions (and, alone, in
// RunFHIRTransactions).
func RunFHIR[B FHIRBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"Versions", func(t *testing.T, b B) { testFHIRVersions(t, b) }},
		{"History", func(t *testing.T, b B) { testFHIRHistory(t, b) }},
		{"Search", func(t *testing.T, b B) { testFHIRSearch(t, b) }},
		{"LastUpdated", func(t *testing.T, b B) { testFHIRLastUpdated(t, b) }},
	})
}

// RunFHIRTransactions runs the FHIR tests of RunTransactions alone, for a
// backend whose other domains are not done yet (RunTransactions needs a
// complete Backend).
func RunFHIRTransactions[B FHIRBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"FHIRRollback", func(t *testing.T, b B) { testFHIRRollback(t, b) }},
		{"FHIRSameVersionConcurrent", func(t *testing.T, b B) { testFHIRSameVersionConcurrent(t, b) }},
	})
}

var fhirT0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func fhirWrite(typ, id string, version int64, body string, idx []search.Entry, patients ...string) *fhir.Write {
	return &fhir.Write{
		Resource: fhir.Resource{Type: typ, ID: id, Version: version, LastUpdated: fhirT0.Add(time.Duration(version) * time.Minute),
			JSON: []byte(body)},
		Method: "PUT", Index: idx, Patients: patients,
	}
}

func put(t *testing.T, b FHIRBackend, ws ...*fhir.Write) {
	t.Helper()
	err := b.TransactResources(context.Background(), func(tx fhir.Tx) error {
		for _, w := range ws {
			if err := tx.Put(context.Background(), w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testFHIRVersions(t *testing.T, b FHIRBackend) {
	ctx := context.Background()
	if _, err := b.ReadResource(ctx, "Patient", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing resource: %v, want ErrNotFound", err)
	}
	v1 := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"}}`
	put(t, b, fhirWrite("Patient", "p1", 1, v1, nil, "p1"))
	put(t, b, fhirWrite("Patient", "p1", 2, `{"resourceType":"Patient","id":"p1","meta":{"versionId":"2"},"active":true}`, nil, "p1"))
	del := fhirWrite("Patient", "p1", 3, "", nil, "p1")
	del.Deleted, del.Method = true, "DELETE"
	put(t, b, del)

	cur, err := b.ReadResource(ctx, "Patient", "p1")
	if err != nil || !cur.Deleted || cur.Version != 3 || len(cur.JSON) != 0 {
		t.Fatalf("current = %+v, %v; want deleted version 3", cur, err)
	}
	old, err := b.ReadResourceVersion(ctx, "Patient", "p1", 1)
	if err != nil || string(old.JSON) != v1 || !SameInstant(old.LastUpdated, fhirT0.Add(time.Minute)) {
		t.Fatalf("version 1 = %+v, %v", old, err)
	}
	if _, err := b.ReadResourceVersion(ctx, "Patient", "p1", 9); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	// LastContent: the newest version that is not a delete.
	err = b.TransactResources(ctx, func(tx fhir.Tx) error {
		last, err := tx.LastContent(ctx, "Patient", "p1")
		if err != nil || !strings.Contains(string(last), `"versionId":"2"`) {
			return fmt.Errorf("last content of a deleted resource = %s, %w; want version 2", last, err)
		}
		if last, err := tx.LastContent(ctx, "Patient", "nope"); err != nil || last != nil {
			return fmt.Errorf("last content of a missing resource = %s, %w; want none", last, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same version twice is a conflict.
	err = b.TransactResources(ctx, func(tx fhir.Tx) error {
		return tx.Put(ctx, fhirWrite("Patient", "p1", 2, `{}`, nil))
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate version: %v, want ErrConflict", err)
	}
}

func testFHIRRollback[B FHIRBackend](t *testing.T, b B) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := b.TransactResources(ctx, func(tx fhir.Tx) error {
		if err := tx.Put(ctx, fhirWrite("Patient", "a", 1, `{"resourceType":"Patient","id":"a"}`, nil, "a")); err != nil {
			return err
		}
		if cur, err := tx.Current(ctx, "Patient", "a"); err != nil || cur.Version != 1 {
			return fmt.Errorf("read inside the transaction: %+v, %w", cur, err)
		}
		if ps, err := tx.Compartments(ctx, "Patient", "a"); err != nil || len(ps) != 1 || ps[0] != "a" {
			return fmt.Errorf("compartments inside the transaction: %v, %w", ps, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("TransactResources = %v, want the callback's error", err)
	}
	if _, err := b.ReadResource(ctx, "Patient", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rolled-back resource is readable: %v", err)
	}
	h, err := b.ResourceHistory(ctx, fhir.HistoryQuery{})
	if err != nil || h.Total != 0 {
		t.Fatalf("history after rollback: %+v, %v", h, err)
	}
}

func testFHIRHistory(t *testing.T, b FHIRBackend) {
	ctx := context.Background()
	for i := int64(1); i <= 5; i++ {
		put(t, b, fhirWrite("Observation", "o1", i, `{"resourceType":"Observation"}`, nil, "pa"))
	}
	put(t, b, fhirWrite("Observation", "o2", 1, `{"resourceType":"Observation"}`, nil, "pb"))
	put(t, b, fhirWrite("Patient", "pa", 1, `{"resourceType":"Patient"}`, nil, "pa"))

	h, err := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation", ID: "o1", Count: 2})
	if err != nil || h.Total != 5 || len(h.Entries) != 2 || h.Entries[0].Version != 5 || h.Next == "" {
		t.Fatalf("instance history page 1: %+v, %v", h, err)
	}
	h2, err := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation", ID: "o1", Count: 2, Cursor: h.Next})
	if err != nil || len(h2.Entries) != 2 || h2.Entries[0].Version != 3 {
		t.Fatalf("instance history page 2: %+v, %v", h2, err)
	}
	all, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation"})
	if all.Total != 6 {
		t.Fatalf("type history total %d", all.Total)
	}
	sys, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{})
	if sys.Total != 7 {
		t.Fatalf("system history total %d", sys.Total)
	}
	since, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation", Since: fhirT0.Add(4 * time.Minute)})
	if since.Total != 2 {
		t.Fatalf("_since total %d, want 2", since.Total)
	}
	onlyB, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation", Patients: []string{"pb"}})
	if onlyB.Total != 1 || onlyB.Entries[0].ID != "o2" {
		t.Fatalf("compartment-restricted history: %+v", onlyB)
	}
	none, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "Observation", Patients: []string{}})
	if none.Total != 0 {
		t.Fatalf("empty restriction let %d through", none.Total)
	}

	// ExcludeTypes: an imported AuditEvent (a local type of the endpoint)
	// is in neither the entries nor the total.
	put(t, b, fhirWrite("AuditEvent", "ae1", 1, `{"resourceType":"AuditEvent"}`, nil, "pa"))
	if all, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{}); all.Total != 8 {
		t.Fatalf("system history total %d with the AuditEvent, want 8", all.Total)
	}
	without, err := b.ResourceHistory(ctx, fhir.HistoryQuery{ExcludeTypes: []string{"AuditEvent"}, Count: 3})
	if err != nil || without.Total != 7 || len(without.Entries) != 3 || without.Next == "" {
		t.Fatalf("system history without AuditEvent: %+v, %v", without, err)
	}
	for cur := without; ; {
		for _, e := range cur.Entries {
			if e.Type == "AuditEvent" {
				t.Fatalf("ExcludeTypes listed %s/%s", e.Type, e.ID)
			}
		}
		if cur.Next == "" {
			break
		}
		if cur, err = b.ResourceHistory(ctx, fhir.HistoryQuery{ExcludeTypes: []string{"AuditEvent"}, Count: 3, Cursor: cur.Next}); err != nil {
			t.Fatal(err)
		}
	}
	if ae, _ := b.ResourceHistory(ctx, fhir.HistoryQuery{Type: "AuditEvent", ExcludeTypes: []string{"AuditEvent"}}); ae.Total != 0 || len(ae.Entries) != 0 {
		t.Fatalf("type history of an excluded type: %+v", ae)
	}
}

func testFHIRSearch(t *testing.T, b FHIRBackend) {
	ctx := context.Background()
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	tok := func(param, sys, code string) search.Entry {
		return search.Entry{Param: param, Type: search.TypeToken, System: sys, Code: code}
	}
	ref := func(param, typ, id string) search.Entry {
		return search.Entry{Param: param, Type: search.TypeReference, Code: typ + "/" + id, RefType: typ, RefID: id}
	}
	date := func(s string) search.Entry {
		lo, hi, _ := search.DateRange(s)
		return search.Entry{Param: "date", Type: search.TypeDate, Lo: lo, Hi: hi}
	}
	put(t, b,
		fhirWrite("Patient", "pa", 1, `{"resourceType":"Patient","id":"pa"}`,
			[]search.Entry{{Param: "family", Type: search.TypeString, Code: "Müller", Text: "muller"}}, "pa"),
		fhirWrite("Patient", "pb", 1, `{"resourceType":"Patient","id":"pb"}`,
			[]search.Entry{{Param: "family", Type: search.TypeString, Code: "Miller", Text: "miller"}}, "pb"),
		fhirWrite("Observation", "o1", 1, `{"resourceType":"Observation","id":"o1"}`,
			[]search.Entry{tok("code", "http://loinc.org", "1-1"), ref("subject", "Patient", "pa"), ref("patient", "Patient", "pa"), date("2020-05-01")}, "pa"),
		fhirWrite("Observation", "o2", 1, `{"resourceType":"Observation","id":"o2"}`,
			[]search.Entry{tok("code", "http://loinc.org", "2-2"), ref("subject", "Patient", "pb"), ref("patient", "Patient", "pb"), date("2021-05-01")}, "pb"),
	)
	run := func(typ, q string, patients []string) *fhir.SearchResult {
		t.Helper()
		v, _ := url.ParseQuery(q)
		pq, err := reg.ParseQuery(typ, v, false)
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.SearchResources(ctx, fhir.SearchRequest{Query: pq, Patients: patients})
		if err != nil {
			t.Fatalf("%s?%s: %v", typ, q, err)
		}
		return res
	}
	tests := []struct {
		typ, q   string
		patients []string
		want     []string
	}{
		{"Observation", "code=http://loinc.org|1-1", nil, []string{"o1"}},
		{"Observation", "code=1-1,2-2", nil, []string{"o1", "o2"}},
		{"Observation", "code:not=1-1", nil, []string{"o2"}},
		{"Observation", "code:not=%FF", nil, []string{"o1", "o2"}}, // not UTF-8: matches nothing
		{"Observation", "code=urn:x%FF|1-1", nil, nil},
		{"Observation", "date=2020", nil, []string{"o1"}},
		{"Observation", "date=gt2020-12-31", nil, []string{"o2"}},
		{"Observation", "patient=pb", nil, []string{"o2"}},
		{"Observation", "subject:Patient.family=mul", nil, []string{"o1"}},
		{"Observation", "", []string{"pa"}, []string{"o1"}},
		{"Observation", "", []string{"pa", "pb"}, []string{"o1", "o2"}},
		{"Observation", "", []string{}, nil},
		{"Observation", "code=2-2", []string{"pa"}, nil},
		{"Patient", "family=M", nil, []string{"pa", "pb"}},
		{"Patient", "family:exact=Müller", nil, []string{"pa"}},
		{"Patient", "family:contains=ll", nil, []string{"pa", "pb"}},
		{"Patient", "family=m%FF", nil, nil},
		{"Patient", "family:contains=%FF", nil, nil},
		{"Patient", "_id=pb", nil, []string{"pb"}},
	}
	for _, tc := range tests {
		res := run(tc.typ, tc.q, tc.patients)
		var got []string
		for _, m := range res.Matches {
			got = append(got, m.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || res.Total != len(tc.want) {
			t.Errorf("%s?%s (patients %v) = %v (total %d), want %v", tc.typ, tc.q, tc.patients, got, res.Total, tc.want)
		}
	}
	inc := run("Observation", "code=1-1&_include=Observation:subject", nil)
	if len(inc.Included) != 1 || inc.Included[0].ID != "pa" {
		t.Errorf("_include: %+v", inc.Included)
	}
	rev := run("Patient", "_id=pb&_revinclude=Observation:subject", nil)
	if len(rev.Included) != 1 || rev.Included[0].ID != "o2" {
		t.Errorf("_revinclude: %+v", rev.Included)
	}
	page := run("Observation", "_count=1", nil)
	if page.Next == "" || len(page.Matches) != 1 || page.Total != 2 {
		t.Fatalf("page 1: %+v", page)
	}
	err = b.TransactResources(ctx, func(tx fhir.Tx) error {
		v, _ := url.ParseQuery("code=2-2")
		q, _ := reg.ParseQuery("Observation", v, false)
		ids, err := tx.Match(ctx, fhir.SearchRequest{Query: q}, 2)
		if err != nil || len(ids) != 1 || ids[0] != "o2" {
			return fmt.Errorf("match = %v, %w", ids, err)
		}
		ids, err = tx.Match(ctx, fhir.SearchRequest{Query: q, Patients: []string{"pa"}}, 2)
		if err != nil || len(ids) != 0 {
			return fmt.Errorf("restricted match = %v, %w", ids, err)
		}
		ids, err = tx.Match(ctx, fhir.SearchRequest{Query: q, AnyOf: [][]search.Clause{q.Clauses}}, 2)
		if err != nil || len(ids) != 1 || ids[0] != "o2" {
			return fmt.Errorf("match = %v, %w", ids, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A delete leaves the index.
	del := fhirWrite("Observation", "o2", 2, "", nil, "pb")
	del.Deleted = true
	put(t, b, del)
	if res := run("Observation", "code=2-2", nil); res.Total != 0 {
		t.Fatalf("deleted resource still matches")
	}
}

// testFHIRLastUpdated: last_updated keeps the microsecond, and _lastUpdated
// searches compare at the millisecond (FHIR instants as the API shows them),
// with every prefix and precision.
func testFHIRLastUpdated(t *testing.T, b FHIRBackend) {
	ctx := context.Background()
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]time.Time{
		"la": time.Date(2024, 3, 1, 12, 1, 0, 0, time.UTC),
		"lb": time.Date(2024, 3, 1, 12, 1, 0, 123_000_000, time.UTC),
		"lc": time.Date(2024, 3, 1, 12, 1, 0, 123_456_000, time.UTC),
	}
	for _, id := range []string{"la", "lb", "lc"} {
		w := fhirWrite("Patient", id, 1, `{"resourceType":"Patient","id":"`+id+`"}`, nil, id)
		w.LastUpdated = at[id]
		put(t, b, w)
	}
	for id, want := range at {
		r, err := b.ReadResource(ctx, "Patient", id)
		if err != nil || !SameInstant(r.LastUpdated, want) {
			t.Fatalf("%s last updated %+v, %v; want %v", id, r, err, want)
		}
	}
	// History since an instant compares at the millisecond too.
	since := at["lb"].Add(500 * time.Microsecond)
	if h, err := b.ResourceHistory(ctx, fhir.HistoryQuery{Since: since}); err != nil || h.Total != 2 {
		t.Errorf("history since %v: %+v, %v; want lb and lc", since, h, err)
	}
	for q, want := range map[string]string{
		"_lastUpdated=2024-03-01T12:01:00.123Z":                       "[lb lc]",
		"_lastUpdated=gt2024-03-01T12:01:00.000Z":                     "[lb lc]",
		"_lastUpdated=ge2024-03-01T12:01:00.000Z":                     "[la lb lc]",
		"_lastUpdated=lt2024-03-01T12:01:00.123Z":                     "[la]",
		"_lastUpdated=le2024-03-01T12:01:00.123Z":                     "[la lb lc]",
		"_lastUpdated=ne2024-03-01T12:01:00.123Z":                     "[la]",
		"_lastUpdated=2024-03-01T12:01:00Z":                           "[la lb lc]",
		"_lastUpdated=2024-03-01T12:01:01Z":                           "[]",
		"_lastUpdated=gt2024-03-01T12:01:00.123Z":                     "[]",
		"_lastUpdated=2024-03-01":                                     "[la lb lc]",
		"_lastUpdated=ge2024-03-01T12:01:00.001Z&_sort=-_lastUpdated": "[lc lb]",
	} {
		v, _ := url.ParseQuery(q)
		pq, err := reg.ParseQuery("Patient", v, false)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		res, err := b.SearchResources(ctx, fhir.SearchRequest{Query: pq})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got := []string{}
		for _, m := range res.Matches {
			got = append(got, m.ID)
		}
		if !strings.Contains(q, "_sort") {
			slices.Sort(got)
		}
		if fmt.Sprint(got) != want {
			t.Errorf("Patient?%s = %v, want %s", q, got, want)
		}
	}
}

// FHIRConditionalWrites checks that TransactResources is serialisable, as
// fhir.Store requires of it: the check-then-write of a conditional create
// (Match, then Put only when nothing matched) and of a conditional update
// (Match, then Put the next version of the one match, or create) holds
// under concurrency, so that N concurrent conditional creates with the same
// criteria create exactly one resource and N conditional updates make N
// versions of it. open returns one or more handles on one fresh database;
// the writers are spread over them, so a backend cannot pass by funnelling
// its own writes through one connection only.
func FHIRConditionalWrites(t *testing.T, open func(t *testing.T) []fhir.Store) {
	reg, err := search.Load()
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	criteria := func(t *testing.T, value string) fhir.SearchRequest {
		q, err := reg.ParseQuery("Patient", url.Values{"identifier": {"urn:storetest|" + value}}, false)
		if err != nil {
			t.Fatal(err)
		}
		return fhir.SearchRequest{Query: q}
	}
	write := func(id string, version int64, value string) *fhir.Write {
		return fhirWrite("Patient", id, version, fmt.Sprintf(`{"resourceType":"Patient","id":%q}`, id),
			[]search.Entry{{Param: "identifier", Type: search.TypeToken, System: "urn:storetest", Code: value}}, id)
	}
	// concurrently runs fn(i) for i < n at once on the stores, round robin.
	concurrently := func(t *testing.T, stores []fhir.Store, fn func(s fhir.Store, i int) error) {
		start := make(chan struct{})
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs <- fn(stores[i%len(stores)], i)
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent conditional write: %v", err)
			}
		}
	}
	matches := func(t *testing.T, s fhir.Store, value string) []fhir.Resource {
		res, err := s.SearchResources(context.Background(), criteria(t, value))
		if err != nil {
			t.Fatal(err)
		}
		return res.Matches
	}

	t.Run("create", func(t *testing.T) {
		stores := open(t)
		req := criteria(t, "create")
		var created atomic.Int32
		concurrently(t, stores, func(s fhir.Store, i int) error {
			made := false
			err := s.TransactResources(context.Background(), func(tx fhir.Tx) error {
				ctx := context.Background()
				made = false
				ids, err := tx.Match(ctx, req, 2)
				if err != nil || len(ids) > 0 {
					return err
				}
				made = true
				return tx.Put(ctx, write(fmt.Sprintf("create-%d", i), 1, "create"))
			})
			if err == nil && made {
				created.Add(1)
			}
			return err
		})
		if got := matches(t, stores[0], "create"); created.Load() != 1 || len(got) != 1 {
			t.Fatalf("%d concurrent conditional creates created %d (%d stored), want exactly 1", n, created.Load(), len(got))
		}
	})

	t.Run("update", func(t *testing.T) {
		stores := open(t)
		req := criteria(t, "update")
		concurrently(t, stores, func(s fhir.Store, i int) error {
			return s.TransactResources(context.Background(), func(tx fhir.Tx) error {
				ctx := context.Background()
				ids, err := tx.Match(ctx, req, 2)
				switch {
				case err != nil:
					return err
				case len(ids) == 0:
					return tx.Put(ctx, write(fmt.Sprintf("update-%d", i), 1, "update"))
				case len(ids) > 1:
					return fmt.Errorf("conditional update matches %v", ids)
				}
				cur, err := tx.Current(ctx, "Patient", ids[0])
				if err != nil {
					return err
				}
				return tx.Put(ctx, write(cur.ID, cur.Version+1, "update"))
			})
		})
		got := matches(t, stores[0], "update")
		if len(got) != 1 || got[0].Version != n {
			t.Fatalf("%d concurrent conditional updates left %d resources (%+v), want 1 at version %d", n, len(got), got, n)
		}
		h, err := stores[0].ResourceHistory(context.Background(), fhir.HistoryQuery{Type: "Patient", ID: got[0].ID})
		if err != nil || h.Total != n {
			t.Fatalf("history of the updated resource: %+v, %v; want %d versions", h, err, n)
		}
	})
}
