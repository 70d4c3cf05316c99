package fhirsql

import (
	"strings"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// sqlWhere is a FROM/WHERE pair with its arguments. Every value is a
// placeholder argument; only parameter-independent SQL text is written.
type sqlWhere struct {
	from  string
	where string
	args  []any
	// cand selects the candidate rows (d.rid) on the index tables alone,
	// with candArgs; indexOnly reports that they are exactly the matches
	// (no condition is left for fhir_resources but type and deleted, which
	// the index rows imply: Put stores index rows only for the current,
	// non-deleted version, with its type).
	cand      string
	candArgs  []any
	indexOnly bool
}

// buildWhere translates q (and the compartment restriction) into SQL over
// fhir_resources aliased a.
//
// The plan matters more than anything else for speed: every look-up of a
// fhir_resources row reads a page of its own (rows hold the JSON), so the
// SQL first narrows the candidates down on the index tables alone. The
// most selective plain clause (see driverRank) drives: its fhir_index rows
// give the candidate rows, and every other plain clause and a
// one-patient compartment limit are checked per candidate through the
// (rid, param) index and the compartment primary key. Only the survivors
// are looked up in fhir_resources, where the remaining conditions (:not,
// :missing, chains, _id, _lastUpdated, access filters) are checked.
func (d *Dialect) buildWhere(q *search.Query, patients []string, chains map[string]fhir.Reach, now time.Time, a string) sqlWhere {
	w := sqlWhere{from: "fhir_resources " + a}
	var conds []string
	driver := -1
	for i, c := range q.Clauses {
		if rank := d.driverRank(c); rank >= 0 && (driver < 0 || rank < d.driverRank(q.Clauses[driver])) {
			driver = i
		}
	}
	// When a clause selects rows through the value indexes, let it drive
	// the query (see Dialect.TypeHint).
	typeCond := a + ".type = ?"
	if d.TypeHint != "" {
		for _, c := range q.Clauses {
			if c.Missing == nil && c.Modifier != "not" && c.Param != "_id" && c.Param != "_lastUpdated" {
				typeCond = d.TypeHint + typeCond
				break
			}
		}
	}
	conds = append(conds, typeCond, a+".deleted = 0")
	w.args = append(w.args, q.Type)
	compartmentDone := false
	if driver >= 0 {
		dc := q.Clauses[driver]
		cond, args := d.indexCond(dc, []string{q.Type}, now)
		cand := "FROM fhir_index d WHERE " + cond
		w.args = append(w.args, args...)
		for i, c := range q.Clauses {
			if i == driver || d.driverRank(c) < 0 {
				continue
			}
			cond, args := d.indexCond(c, nil, now)
			// With the outer row fixed, (rid, param) finds the few rows
			// of one resource (see Dialect.RidIndex).
			cand += " AND EXISTS (SELECT 1 FROM fhir_index x" + d.RidIndex + " WHERE x.rid = d.rid AND " + cond + ")"
			w.args = append(w.args, args...)
		}
		if len(patients) == 1 {
			cand += " AND EXISTS (SELECT 1 FROM fhir_compartment c WHERE c.patient_id = ? AND c.rid = d.rid)"
			w.args = append(w.args, patients[0])
			compartmentDone = true
		}
		conds = append(conds, a+".rid IN (SELECT d.rid "+cand+")")
		w.cand, w.candArgs = cand, append([]any(nil), w.args[1:]...)
		w.indexOnly = patients == nil || compartmentDone
	}
	if patients != nil && !compartmentDone {
		switch len(patients) {
		case 0:
			conds = append(conds, d.False)
		case 1:
			w.from += " JOIN fhir_compartment pc ON pc.rid = " + a + ".rid AND pc.patient_id = ?"
			w.args = append([]any{patients[0]}, w.args...)
		default:
			conds = append(conds, a+".rid IN (SELECT rid FROM fhir_compartment WHERE patient_id IN ("+placeholders(len(patients))+"))")
			for _, p := range patients {
				w.args = append(w.args, p)
			}
		}
	}
	for _, c := range q.Clauses {
		if driver >= 0 && d.driverRank(c) >= 0 {
			continue // checked on the index tables above
		}
		cond, args := d.clauseSQL(c, []string{q.Type}, a, now, chains)
		conds = append(conds, cond)
		w.args = append(w.args, args...)
		w.indexOnly = false
	}
	w.where = strings.Join(conds, " AND ")
	return w
}

// driverRank orders the plain clauses (those that hold when some index row
// of the resource matches) by how few rows they are likely to select:
// a reference to one resource first, an exact code next, ranges last. It
// is -1 for clauses that are not plain.
func (d *Dialect) driverRank(c search.Clause) int {
	if c.Missing != nil || c.Modifier == "not" || c.Chain != nil || c.Param == "_id" || c.Param == "_lastUpdated" || len(c.Values) == 0 {
		return -1
	}
	switch c.Type {
	case search.TypeReference:
		if d.kindTerm(c) == "ref_id IS NOT NULL" {
			return 0
		}
		return 2
	case search.TypeToken:
		if c.Modifier == "text" {
			return 4
		}
		for _, v := range c.Values {
			if !v.HasSystem || v.Code == "" {
				return 2
			}
		}
		return 1
	case search.TypeString, search.TypeURI:
		if c.Modifier == "" || c.Modifier == "exact" {
			return 3
		}
		return 4
	case search.TypeDate, search.TypeNumber, search.TypeQuantity:
		return 4
	}
	return -1
}

// indexCond is the condition on one fhir_index row (unqualified columns)
// for a plain clause: the row is of one of types (any when nil: the row is
// known to belong to a resource of the right type), of the clause's
// parameter, and matches one of its values.
func (d *Dialect) indexCond(c search.Clause, types []string, now time.Time) (string, []any) {
	args := make([]any, 0, len(types)+1+2*len(c.Values))
	cond := "param = ? AND "
	if types != nil {
		cond = "type IN (" + placeholders(len(types)) + ") AND " + cond
	}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, c.Param)
	var ors []string
	for _, v := range c.Values {
		cond, vargs := d.valueSQL(c, v, now)
		ors = append(ors, "("+cond+")")
		args = append(args, vargs...)
	}
	return cond + d.kindTerm(c) + " AND (" + strings.Join(ors, " OR ") + ")", args
}

// anyOf adds the condition that at least one group of clauses holds.
func (d *Dialect) anyOf(w *sqlWhere, groups [][]search.Clause, typ string, now time.Time) {
	if len(groups) == 0 {
		return
	}
	w.indexOnly = false
	var ors []string
	for _, group := range groups {
		conds := []string{d.True}
		for _, c := range group {
			cond, args := d.clauseSQL(c, []string{typ}, "r", now, nil)
			conds = append(conds, cond)
			w.args = append(w.args, args...)
		}
		ors = append(ors, "("+strings.Join(conds, " AND ")+")")
	}
	w.where += " AND (" + strings.Join(ors, " OR ") + ")"
}

// clauseSQL is the condition for one clause on resources aliased a, of
// one of types. chains limits the resources chained clauses test (see
// fhir.SearchRequest.ChainReach).
func (d *Dialect) clauseSQL(c search.Clause, types []string, a string, now time.Time, chains map[string]fhir.Reach) (string, []any) {
	var args []any
	typeCond := "type IN (" + placeholders(len(types)) + ")"
	typeArgs := func() {
		for _, t := range types {
			args = append(args, t)
		}
	}
	if c.Missing != nil {
		op := "EXISTS"
		if *c.Missing {
			op = "NOT EXISTS"
		}
		return op + " (SELECT 1 FROM fhir_index m WHERE m.rid = " + a + ".rid AND m.param = ?)", []any{c.Param}
	}
	switch c.Param {
	case "_id":
		var ors []string
		for _, v := range c.Values {
			ors = append(ors, "?")
			args = append(args, v.Code)
		}
		op := "IN"
		if c.Modifier == "not" {
			op = "NOT IN"
		}
		return a + ".id " + op + " (" + strings.Join(ors, ",") + ")", args
	case "_lastUpdated":
		var ors []string
		// last_updated is Unix microseconds, search ranges Unix
		// milliseconds (integer division; see Dialect.MillisCast).
		ms := "(" + a + ".last_updated / 1000)" + d.MillisCast
		for _, v := range c.Values {
			cond, vargs := rangeCond(v, ms, ms, now)
			ors = append(ors, cond)
			args = append(args, vargs...)
		}
		return "(" + strings.Join(ors, " OR ") + ")", args
	}
	if c.Chain != nil {
		typeArgs()
		args = append(args, c.Param)
		for _, t := range c.Chain.Types {
			args = append(args, t)
		}
		inner, innerArgs := d.clauseSQL(c.Chain.Inner, c.Chain.Types, "t", now, nil)
		args = append(args, innerArgs...)
		reach, reachArgs := d.chainReachSQL(chains, c.Chain.Types, now)
		args = append(args, reachArgs...)
		return a + `.rid IN (SELECT i.rid FROM fhir_index i JOIN fhir_resources t ON t.type = i.ref_type AND t.id = i.ref_id
			WHERE i.` + typeCond + ` AND i.param = ? AND i.ref_id IS NOT NULL AND t.type IN (` + placeholders(len(c.Chain.Types)) + `) AND t.deleted = 0 AND ` + inner + reach + `)`, args
	}
	typeArgs()
	args = append(args, c.Param)
	var ors []string
	for _, v := range c.Values {
		cond, vargs := d.valueSQL(c, v, now)
		ors = append(ors, "("+cond+")")
		args = append(args, vargs...)
	}
	op := "IN"
	if c.Modifier == "not" {
		op = "NOT IN"
	}
	return a + ".rid " + op + " (SELECT rid FROM fhir_index WHERE " + typeCond + " AND param = ? AND " + d.kindTerm(c) + " AND (" + strings.Join(ors, " OR ") + "))", args
}

// chainReachSQL limits the resources a chain tests (aliased t) to the
// caller's reach on their type: "" when chains is nil (no limit).
func (d *Dialect) chainReachSQL(chains map[string]fhir.Reach, types []string, now time.Time) (string, []any) {
	if chains == nil {
		return "", nil
	}
	var ors []string
	var args []any
	for _, typ := range types {
		r, ok := chains[typ]
		if !ok || (r.Patients != nil && len(r.Patients) == 0) {
			continue
		}
		conds := []string{"t.type = ?"}
		args = append(args, typ)
		if r.Patients != nil {
			conds = append(conds, "t.rid IN (SELECT rid FROM fhir_compartment WHERE patient_id IN ("+placeholders(len(r.Patients))+"))")
			for _, p := range r.Patients {
				args = append(args, p)
			}
		}
		var groups []string
		for _, group := range r.AnyOf {
			gc := []string{d.True}
			for _, c := range group {
				cond, cargs := d.clauseSQL(c, []string{typ}, "t", now, nil)
				gc = append(gc, cond)
				args = append(args, cargs...)
			}
			groups = append(groups, "("+strings.Join(gc, " AND ")+")")
		}
		if len(groups) > 0 {
			conds = append(conds, "("+strings.Join(groups, " OR ")+")")
		}
		ors = append(ors, "("+strings.Join(conds, " AND ")+")")
	}
	if len(ors) == 0 {
		return " AND " + d.False, nil
	}
	return " AND (" + strings.Join(ors, " OR ") + ")", args
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// kindTerm names the partial index a clause's value conditions use.
func (d *Dialect) kindTerm(c search.Clause) string {
	switch c.Type {
	case search.TypeString:
		if c.Modifier == "exact" {
			return "code IS NOT NULL"
		}
		return "text IS NOT NULL"
	case search.TypeToken:
		if c.Modifier == "text" {
			return "text IS NOT NULL"
		}
		return "code IS NOT NULL"
	case search.TypeURI:
		return "code IS NOT NULL"
	case search.TypeReference:
		for _, v := range c.Values {
			if v.RefID == "" {
				return d.True // some value is matched as written (code)
			}
		}
		return "ref_id IS NOT NULL"
	case search.TypeDate, search.TypeNumber, search.TypeQuantity:
		return "lo IS NOT NULL"
	}
	return d.True
}

// prefixCond matches normalised text starting with prefix, as a range that
// the (type, param, text) index serves: from prefix up to, not including,
// Dialect.PrefixEnd.
func (d *Dialect) prefixCond(prefix string) (string, []any) {
	if end, ok := d.PrefixEnd(prefix); ok {
		return "text >= ? AND text < ?", []any{prefix, end}
	}
	return "text >= ?", []any{prefix}
}

// valueSQL is the condition on one fhir_index row for one value.
func (d *Dialect) valueSQL(c search.Clause, v search.Value, now time.Time) (string, []any) {
	if d.Valid != nil && !d.Valid(v) {
		return d.False, nil
	}
	switch c.Type {
	case search.TypeString:
		switch c.Modifier {
		case "exact":
			return "code = ?", []any{v.Code}
		case "contains":
			return d.Like("text"), []any{"%" + escapeLike(v.Text) + "%"}
		}
		return d.prefixCond(v.Text)
	case search.TypeURI:
		switch c.Modifier {
		case "below":
			return d.Like("code"), []any{escapeLike(v.Code) + "%"}
		case "above":
			return "code <> '' AND substr(" + d.TextArg + ", 1, length(code)) = code", []any{v.Code}
		}
		return "code = ?", []any{v.Code}
	case search.TypeToken:
		if c.Modifier == "text" {
			return d.prefixCond(v.Text)
		}
		switch {
		case v.HasSystem && v.Code == "":
			return "sys = ?", []any{v.System}
		case v.HasSystem:
			return "sys = ? AND code = ?", []any{v.System, v.Code}
		}
		return "code = ?", []any{v.Code}
	case search.TypeReference:
		switch {
		case v.RefType != "":
			return "ref_type = ? AND ref_id = ?", []any{v.RefType, v.RefID}
		case v.RefID != "":
			return "ref_id = ?", []any{v.RefID}
		}
		return "code = ?", []any{v.Code}
	case search.TypeDate:
		return rangeCond(v, "lo", "hi", now)
	case search.TypeNumber, search.TypeQuantity:
		cond, args := numberCond(v)
		if c.Type == search.TypeQuantity {
			switch {
			case v.HasSystem:
				cond += " AND sys = ? AND code = ?"
				args = append(args, v.System, v.Code)
			case v.Code != "":
				cond += " AND (code = ? OR text = ?)"
				args = append(args, v.Code, v.Code)
			}
		}
		return cond, args
	}
	return d.False, nil
}

// rangeCond compares the indexed range [lo, hi] with the value's range by
// the prefix (FHIR R4 search, 3.1.1.4.2 / date).
func rangeCond(v search.Value, lo, hi string, now time.Time) (string, []any) {
	switch v.Prefix {
	case "ne":
		return "NOT (" + lo + " >= ? AND " + hi + " <= ?)", []any{v.Lo, v.Hi}
	case "gt":
		return hi + " > ?", []any{v.Hi}
	case "lt":
		return lo + " < ?", []any{v.Lo}
	case "ge":
		return hi + " >= ?", []any{v.Lo}
	case "le":
		return lo + " <= ?", []any{v.Hi}
	case "sa":
		return lo + " > ?", []any{v.Hi}
	case "eb":
		return hi + " < ?", []any{v.Lo}
	case "ap":
		alo, ahi := search.ApproxRange(v.Lo, v.Hi, now)
		return lo + " <= ? AND " + hi + " >= ?", []any{ahi, alo}
	}
	return lo + " >= ? AND " + hi + " <= ?", []any{v.Lo, v.Hi}
}

func numberCond(v search.Value) (string, []any) {
	switch v.Prefix {
	case "ne":
		return "NOT (lo >= ? AND lo < ?)", []any{v.Lo, v.Hi}
	case "gt", "sa":
		return "lo > ?", []any{v.Num}
	case "lt", "eb":
		return "lo < ?", []any{v.Num}
	case "ge":
		return "lo >= ?", []any{v.Num}
	case "le":
		return "lo <= ?", []any{v.Num}
	case "ap":
		d := v.Num * 0.1
		if d < 0 {
			d = -d
		}
		return "lo >= ? AND lo <= ?", []any{v.Num - d, v.Num + d}
	}
	return "lo >= ? AND lo < ?", []any{v.Lo, v.Hi}
}

func (d *Dialect) orderBy(q *search.Query) (string, []any) {
	var keys []string
	var args []any
	for _, k := range q.Sort {
		dir := d.Asc
		if k.Desc {
			dir = d.Desc
		}
		switch k.Param {
		case "_id":
			keys = append(keys, "r.id"+dir)
			continue
		case "_lastUpdated":
			keys = append(keys, "r.last_updated"+dir)
			continue
		}
		var expr string
		switch k.Type {
		case search.TypeDate, search.TypeNumber, search.TypeQuantity:
			if k.Desc {
				expr = "MAX(hi)"
			} else {
				expr = "MIN(lo)"
			}
		case search.TypeString:
			expr = "MIN(text)"
		default:
			expr = "MIN(code)"
		}
		keys = append(keys, "(SELECT "+expr+" FROM fhir_index s WHERE s.rid = r.rid AND s.param = ?)"+dir)
		args = append(args, k.Param)
	}
	keys = append(keys, "r.rid ASC")
	return strings.Join(keys, ", "), args
}

// Match is the statement that selects the ids of req's matches, at most
// limit, in row order: the conditional writes' look-up (see fhir.Tx).
func (d *Dialect) Match(req fhir.SearchRequest, limit int) (string, []any) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	w := d.buildWhere(req.Query, req.Patients, req.ChainReach, now, "r")
	d.anyOf(&w, req.AnyOf, req.Query.Type, now)
	return "SELECT r.id FROM " + w.from + " WHERE " + w.where + " ORDER BY r.rid LIMIT ?", append(w.args, limit)
}
