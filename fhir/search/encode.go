package search

import (
	"net/url"
	"strconv"
	"strings"
)

// Values returns q as search parameters, for sending it on to another FHIR
// server (package fhir/upstream): ParseQuery(q.Type, q.Values(), false)
// parses to q again, less Cursor and Ignored (parameters left out under
// lenient handling are not sent on).
func (q *Query) Values() url.Values {
	v := url.Values{}
	for _, c := range q.Clauses {
		k, val := c.KeyValue()
		v.Add(k, val)
	}
	for _, inc := range q.Includes {
		v.Add(includeKey("_include", inc), inc.String())
	}
	for _, inc := range q.RevIncludes {
		v.Add(includeKey("_revinclude", inc), inc.String())
	}
	if len(q.Sort) > 0 {
		keys := make([]string, len(q.Sort))
		for i, s := range q.Sort {
			keys[i] = s.Param
			if s.Desc {
				keys[i] = "-" + s.Param
			}
		}
		v.Set("_sort", strings.Join(keys, ","))
	}
	v.Set("_count", strconv.Itoa(q.Count))
	if q.Summary != "" {
		v.Set("_summary", q.Summary)
	}
	if len(q.Elements) > 0 {
		v.Set("_elements", strings.Join(q.Elements, ","))
	}
	if q.NoTotal {
		v.Set("_total", "none")
	}
	return v
}

// KeyValue returns the clause as one search parameter: its name, with its
// modifier or chain, and its value (OR values joined by commas, each as
// the client wrote it, escapes kept).
func (c Clause) KeyValue() (key, value string) {
	key = c.Param
	if c.Chain != nil {
		if len(c.Chain.Types) == 1 {
			key += ":" + c.Chain.Types[0]
		}
		ik, iv := c.Chain.Inner.KeyValue()
		return key + "." + ik, iv
	}
	if c.Missing != nil {
		return key + ":missing", strconv.FormatBool(*c.Missing)
	}
	if c.Modifier != "" {
		key += ":" + c.Modifier
	}
	raws := make([]string, len(c.Values))
	for i, val := range c.Values {
		raws[i] = val.Raw
	}
	return key, strings.Join(raws, ",")
}

// String is the include's parameter value, SourceType:Param[:TargetType].
func (inc Include) String() string {
	s := inc.SourceType + ":" + inc.Param
	if inc.TargetType != "" {
		s += ":" + inc.TargetType
	}
	return s
}

func includeKey(base string, inc Include) string {
	if inc.Iterate {
		return base + ":iterate"
	}
	return base
}

// CompartmentParams returns the search parameters of type t that link it
// to a Patient compartment (the R4 Patient CompartmentDefinition), in the
// definition's order; none for Patient itself (its own compartment is its
// _id) and for types outside every compartment.
func (r *Registry) CompartmentParams(t string) []string {
	return append([]string(nil), r.compartment[t]...)
}
