package fhirsql

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// marked writes every dialect field as a marker, so that a test sees where
// the SQL takes each (the backends' conformance suites check what the SQL
// means).
var marked = &Dialect{
	True: "/*T*/1", False: "/*F*/0",
	TypeHint: "/*hint*/", RidIndex: " /*rid*/",
	MillisCast: "/*ms*/", TextArg: "/*text*/?",
	Like:      func(col string) string { return "/*like*/" + col + " LIKE ?" },
	PrefixEnd: func(p string) (string, bool) { return p + "~", p != "" },
	Valid:     func(v search.Value) bool { return v.Code != "bad" },
	Asc:       " /*asc*/", Desc: " /*desc*/", Distinct: "/*distinct*/",
}

func TestDialectFields(t *testing.T) {
	token := func(code string) search.Clause {
		return search.Clause{Param: "code", Type: search.TypeToken, Values: []search.Value{{System: "s", HasSystem: true, Code: code}}}
	}
	str := func(mod, text string) search.Clause {
		return search.Clause{Param: "name", Type: search.TypeString, Modifier: mod, Values: []search.Value{{Text: text}}}
	}
	for _, tc := range []struct {
		name     string
		clauses  []search.Clause
		patients []string
		anyOf    [][]search.Clause
		want     []string // in the SQL
		wantArg  any
	}{
		{name: "driving clause and a second plain one", clauses: []search.Clause{token("a"), str("", "x")},
			want: []string{"/*hint*/r.type = ?", "fhir_index x /*rid*/ WHERE x.rid = d.rid"}},
		{name: "no driving clause", clauses: []search.Clause{{Param: "_id", Values: []search.Value{{Code: "p"}}}},
			want: []string{"WHERE r.type = ?"}},
		{name: "lastUpdated", clauses: []search.Clause{{Param: "_lastUpdated", Type: search.TypeDate, Values: []search.Value{{Prefix: "gt", Hi: 1}}}},
			want: []string{"(r.last_updated / 1000)/*ms*/ > ?"}},
		{name: "contains", clauses: []search.Clause{str("contains", "x")}, want: []string{"/*like*/text LIKE ?"}, wantArg: "%x%"},
		{name: "uri below", clauses: []search.Clause{{Param: "url", Type: search.TypeURI, Modifier: "below", Values: []search.Value{{Code: "u"}}}},
			want: []string{"/*like*/code LIKE ?"}, wantArg: "u%"},
		{name: "uri above", clauses: []search.Clause{{Param: "url", Type: search.TypeURI, Modifier: "above", Values: []search.Value{{Code: "u"}}}},
			want: []string{"substr(/*text*/?, 1, length(code))"}},
		{name: "prefix", clauses: []search.Clause{str("", "ab")}, want: []string{"text >= ? AND text < ?"}, wantArg: "ab~"},
		{name: "prefix without an end", clauses: []search.Clause{str("", "")}, want: []string{"(text >= ?)"}},
		{name: "invalid value", clauses: []search.Clause{token("bad")}, want: []string{"(/*F*/0)"}},
		{name: "no patient", patients: []string{}, want: []string{"AND /*F*/0"}},
		{name: "any of", anyOf: [][]search.Clause{{token("a")}}, want: []string{"(/*T*/1 AND "}},
		{name: "reference as written", clauses: []search.Clause{{Param: "subject", Type: search.TypeReference, Values: []search.Value{{Code: "x"}}}},
			want: []string{"AND /*T*/1 AND ((code = ?))"}},
	} {
		req := fhir.SearchRequest{Query: &search.Query{Type: "Observation", Clauses: tc.clauses}, Patients: tc.patients, AnyOf: tc.anyOf, Now: time.Unix(0, 0)}
		sql, args := marked.Match(req, 3)
		for _, w := range tc.want {
			if !strings.Contains(sql, w) {
				t.Errorf("%s: %s\nlacks %s", tc.name, sql, w)
			}
		}
		if tc.wantArg != nil && !strings.Contains(fmt.Sprint(args), fmt.Sprint(tc.wantArg)) {
			t.Errorf("%s: args %v lack %v", tc.name, args, tc.wantArg)
		}
	}
	order, _ := marked.orderBy(&search.Query{Sort: []search.SortKey{{Param: "_id"}, {Param: "date", Type: search.TypeDate, Desc: true}}})
	if want := "r.id /*asc*/, (SELECT MAX(hi) FROM fhir_index s WHERE s.rid = r.rid AND s.param = ?) /*desc*/, r.rid ASC"; order != want {
		t.Errorf("order %s, want %s", order, want)
	}
}
