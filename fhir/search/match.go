package search

import (
	"strings"
	"time"
)

// Matches reports whether one resource (decoded by Decode; raw is its
// JSON) satisfies every clause of q, evaluated in memory with the same
// semantics as the storage's search. It serves access decisions such as
// SMART v2 query-restricted scopes (patient/Observation.rs?category=…) on
// read and write. Chained clauses cannot be decided on one resource and
// never match; _lastUpdated is compared with meta.lastUpdated.
func (r *Registry) Matches(q *Query, res map[string]any, raw []byte, now time.Time) (bool, error) {
	if rt, _ := res["resourceType"].(string); rt != q.Type {
		return false, nil
	}
	var entries []Entry
	extracted := false
	for _, c := range q.Clauses {
		var vals []Entry
		switch c.Param {
		case "_id":
			id, _ := res["id"].(string)
			vals = []Entry{{Param: "_id", Type: TypeToken, Code: id}}
		case "_lastUpdated":
			meta, _ := res["meta"].(map[string]any)
			s, _ := meta["lastUpdated"].(string)
			if lo, hi, err := DateRange(s); err == nil {
				vals = []Entry{{Param: "_lastUpdated", Type: TypeDate, Lo: lo, Hi: hi}}
			}
		default:
			if c.Chain != nil {
				return false, nil
			}
			if !extracted {
				var err error
				if entries, err = r.Extract(q.Type, res, raw); err != nil {
					return false, err
				}
				extracted = true
			}
			for _, e := range entries {
				if e.Param == c.Param {
					vals = append(vals, e)
				}
			}
		}
		if c.Missing != nil {
			if (len(vals) == 0) != *c.Missing {
				return false, nil
			}
			continue
		}
		any := false
		for _, v := range c.Values {
			for _, e := range vals {
				if entryMatches(c, v, e, now) {
					any = true
					break
				}
			}
			if any {
				break
			}
		}
		if c.Modifier == "not" {
			any = !any
		}
		if !any {
			return false, nil
		}
	}
	return true, nil
}

func entryMatches(c Clause, v Value, e Entry, now time.Time) bool {
	switch c.Type {
	case TypeString:
		switch c.Modifier {
		case "exact":
			return e.Code == v.Code
		case "contains":
			return strings.Contains(e.Text, v.Text)
		}
		return strings.HasPrefix(e.Text, v.Text)
	case TypeURI:
		switch c.Modifier {
		case "below":
			return strings.HasPrefix(e.Code, v.Code)
		case "above":
			return e.Code != "" && strings.HasPrefix(v.Code, e.Code)
		}
		return e.Code == v.Code
	case TypeToken:
		if c.Modifier == "text" {
			return strings.HasPrefix(e.Text, v.Text)
		}
		switch {
		case v.HasSystem && v.Code == "":
			return e.System == v.System
		case v.HasSystem:
			return e.System == v.System && e.Code == v.Code
		}
		return e.Code == v.Code
	case TypeReference:
		switch {
		case v.RefType != "":
			return e.RefType == v.RefType && e.RefID == v.RefID
		case v.RefID != "":
			return e.RefID == v.RefID
		}
		return e.Code == v.Code
	case TypeDate:
		return rangeMatches(v, e.Lo, e.Hi, now)
	case TypeNumber, TypeQuantity:
		if !numberMatches(v, e.Lo) {
			return false
		}
		if c.Type == TypeQuantity {
			switch {
			case v.HasSystem:
				return e.System == v.System && e.Code == v.Code
			case v.Code != "":
				return e.Code == v.Code || e.Text == v.Code
			}
		}
		return true
	}
	return false
}

// rangeMatches mirrors the storage's date comparison by prefix.
func rangeMatches(v Value, lo, hi float64, now time.Time) bool {
	switch v.Prefix {
	case "ne":
		return !(lo >= v.Lo && hi <= v.Hi)
	case "gt":
		return hi > v.Hi
	case "lt":
		return lo < v.Lo
	case "ge":
		return hi >= v.Lo
	case "le":
		return lo <= v.Hi
	case "sa":
		return lo > v.Hi
	case "eb":
		return hi < v.Lo
	case "ap":
		alo, ahi := ApproxRange(v.Lo, v.Hi, now)
		return lo <= ahi && hi >= alo
	}
	return lo >= v.Lo && hi <= v.Hi
}

func numberMatches(v Value, x float64) bool {
	switch v.Prefix {
	case "ne":
		return !(x >= v.Lo && x < v.Hi)
	case "gt", "sa":
		return x > v.Num
	case "lt", "eb":
		return x < v.Num
	case "ge":
		return x >= v.Num
	case "le":
		return x <= v.Num
	case "ap":
		d := v.Num * 0.1
		if d < 0 {
			d = -d
		}
		return x >= v.Num-d && x <= v.Num+d
	}
	return x >= v.Lo && x < v.Hi
}
