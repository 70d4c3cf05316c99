package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

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
func buildWhere(q *search.Query, patients []string, chains map[string]fhir.Reach, now time.Time, a string) sqlWhere {
	w := sqlWhere{from: "fhir_resources " + a}
	var conds []string
	driver := -1
	for i, c := range q.Clauses {
		if rank := driverRank(c); rank >= 0 && (driver < 0 || rank < driverRank(q.Clauses[driver])) {
			driver = i
		}
	}
	// (store/sqlite writes +type here, to keep SQLite off the type index;
	// PostgreSQL's planner weighs the candidates' subquery itself.)
	conds = append(conds, a+".type = ?", a+".deleted = 0")
	w.args = append(w.args, q.Type)
	compartmentDone := false
	if driver >= 0 {
		d := q.Clauses[driver]
		cond, args := indexCond(d, []string{q.Type}, now)
		cand := "FROM fhir_index d WHERE " + cond
		w.args = append(w.args, args...)
		for i, c := range q.Clauses {
			if i == driver || driverRank(c) < 0 {
				continue
			}
			cond, args := indexCond(c, nil, now)
			// With the outer row fixed, (rid, param) finds the few rows
			// of one resource (store/sqlite forces fhir_index_rid).
			cand += " AND EXISTS (SELECT 1 FROM fhir_index x WHERE x.rid = d.rid AND " + cond + ")"
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
			conds = append(conds, "FALSE")
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
		if driver >= 0 && driverRank(c) >= 0 {
			continue // checked on the index tables above
		}
		cond, args := clauseSQL(c, []string{q.Type}, a, now, chains)
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
func driverRank(c search.Clause) int {
	if c.Missing != nil || c.Modifier == "not" || c.Chain != nil || c.Param == "_id" || c.Param == "_lastUpdated" || len(c.Values) == 0 {
		return -1
	}
	switch c.Type {
	case search.TypeReference:
		if kindTerm(c) == "ref_id IS NOT NULL" {
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
func indexCond(c search.Clause, types []string, now time.Time) (string, []any) {
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
		cond, vargs := valueSQL(c, v, now)
		ors = append(ors, "("+cond+")")
		args = append(args, vargs...)
	}
	return cond + kindTerm(c) + " AND (" + strings.Join(ors, " OR ") + ")", args
}

// anyOf adds the condition that at least one group of clauses holds.
func (w *sqlWhere) anyOf(groups [][]search.Clause, typ string, now time.Time) {
	if len(groups) == 0 {
		return
	}
	w.indexOnly = false
	var ors []string
	for _, group := range groups {
		conds := []string{"TRUE"}
		for _, c := range group {
			cond, args := clauseSQL(c, []string{typ}, "r", now, nil)
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
func clauseSQL(c search.Clause, types []string, a string, now time.Time, chains map[string]fhir.Reach) (string, []any) {
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
		// milliseconds (integer division, as in SQLite), compared as the
		// float8 the range bounds are.
		ms := "(" + a + ".last_updated / 1000)::float8"
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
		inner, innerArgs := clauseSQL(c.Chain.Inner, c.Chain.Types, "t", now, nil)
		args = append(args, innerArgs...)
		reach, reachArgs := chainReachSQL(chains, c.Chain.Types, now)
		args = append(args, reachArgs...)
		return a + `.rid IN (SELECT i.rid FROM fhir_index i JOIN fhir_resources t ON t.type = i.ref_type AND t.id = i.ref_id
			WHERE i.` + typeCond + ` AND i.param = ? AND i.ref_id IS NOT NULL AND t.type IN (` + placeholders(len(c.Chain.Types)) + `) AND t.deleted = 0 AND ` + inner + reach + `)`, args
	}
	typeArgs()
	args = append(args, c.Param)
	var ors []string
	for _, v := range c.Values {
		cond, vargs := valueSQL(c, v, now)
		ors = append(ors, "("+cond+")")
		args = append(args, vargs...)
	}
	op := "IN"
	if c.Modifier == "not" {
		op = "NOT IN"
	}
	return a + ".rid " + op + " (SELECT rid FROM fhir_index WHERE " + typeCond + " AND param = ? AND " + kindTerm(c) + " AND (" + strings.Join(ors, " OR ") + "))", args
}

// chainReachSQL limits the resources a chain tests (aliased t) to the
// caller's reach on their type: "" when chains is nil (no limit).
func chainReachSQL(chains map[string]fhir.Reach, types []string, now time.Time) (string, []any) {
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
			gc := []string{"TRUE"}
			for _, c := range group {
				cond, cargs := clauseSQL(c, []string{typ}, "t", now, nil)
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
		return " AND FALSE", nil
	}
	return " AND (" + strings.Join(ors, " OR ") + ")", args
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// kindTerm names the partial index a clause's value conditions use.
func kindTerm(c search.Clause) string {
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
				return "TRUE" // some value is matched as written (code)
			}
		}
		return "ref_id IS NOT NULL"
	case search.TypeDate, search.TypeNumber, search.TypeQuantity:
		return "lo IS NOT NULL"
	}
	return "TRUE"
}

// prefixCond matches normalised text starting with prefix, as a range that
// the (type, param, text) index serves: text is COLLATE "C" (byte order,
// which is code point order in UTF-8), and the strings with the prefix are
// exactly those from prefix up to, not including, its successor.
// (store/sqlite bounds it by prefix+"\xff", which PostgreSQL refuses as
// not UTF-8.)
func prefixCond(prefix string) (string, []any) {
	if next, ok := successor(prefix); ok {
		return "text >= ? AND text < ?", []any{prefix, next}
	}
	return "text >= ?", []any{prefix}
}

// successor is the least string above every string that starts with s:
// s with its last code point incremented, after dropping trailing
// U+10FFFF; false when there is none (s is empty or all U+10FFFF). Invalid
// UTF-8 has none either.
func successor(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	for s != "" {
		r, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
		if r == utf8.MaxRune {
			continue
		}
		r++
		if r >= 0xD800 && r <= 0xDFFF { // surrogates are not code points of UTF-8
			r = 0xE000
		}
		return s + string(r), true
	}
	return "", false
}

// valueSQL is the condition on one fhir_index row for one value.
func valueSQL(c search.Clause, v search.Value, now time.Time) (string, []any) {
	if !validUTF8(v) {
		// The index holds valid UTF-8 only (from JSON), so the value
		// matches no row, as in store/sqlite; PostgreSQL would refuse it
		// as a parameter.
		return "FALSE", nil
	}
	switch c.Type {
	case search.TypeString:
		switch c.Modifier {
		case "exact":
			return "code = ?", []any{v.Code}
		case "contains":
			// SQLite's LIKE folds ASCII case; so does lower() in "C".
			return `lower(text) LIKE lower(?::text COLLATE "C") ESCAPE '\'`, []any{"%" + escapeLike(v.Text) + "%"}
		}
		return prefixCond(v.Text)
	case search.TypeURI:
		switch c.Modifier {
		case "below":
			return `lower(code) LIKE lower(?::text COLLATE "C") ESCAPE '\'`, []any{escapeLike(v.Code) + "%"}
		case "above":
			return "code <> '' AND substr(?::text, 1, length(code)) = code", []any{v.Code}
		}
		return "code = ?", []any{v.Code}
	case search.TypeToken:
		if c.Modifier == "text" {
			return prefixCond(v.Text)
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
	return "FALSE", nil
}

// validUTF8 reports whether the strings of v that valueSQL passes are
// valid UTF-8 (a query's %FF is not).
func validUTF8(v search.Value) bool {
	for _, s := range []string{v.Code, v.Text, v.System, v.RefType, v.RefID} {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
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

func orderBy(q *search.Query) (string, []any) {
	var keys []string
	var args []any
	for _, k := range q.Sort {
		// NULLS as SQLite orders them: the least value.
		dir := " ASC NULLS FIRST"
		if k.Desc {
			dir = " DESC NULLS LAST"
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

// SearchResources runs a search (see fhir.Searcher).
func (db *DB) SearchResources(ctx context.Context, req fhir.SearchRequest) (*fhir.SearchResult, error) {
	q := req.Query
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	sorted := len(q.Sort) > 0
	pos, err := searchCursor(req.Cursor, sorted)
	if err != nil {
		return nil, err
	}
	first := req.Cursor == ""
	res := &fhir.SearchResult{}
	err = db.read(ctx, func(tx pgx.Tx) error {
		if first {
			// The snapshot: rows created after the first page are left
			// out of every later one (their rids are higher).
			if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(rid), 0) FROM fhir_resources").Scan(&pos.Snapshot); err != nil {
				return err
			}
		}
		// The access restriction is the request's, applied to this page
		// as to every other: the cursor only moves the window.
		w := buildWhere(q, req.Patients, req.ChainReach, now, "r")
		w.anyOf(req.AnyOf, q.Type, now)
		w.where += " AND r.rid <= ?"
		w.args = append(w.args, pos.Snapshot)
		res.Total = -1
		count := func() error {
			if w.indexOnly {
				// The candidates are the matches: count them without a
				// look-up of each resource row.
				args := append(append([]any(nil), w.candArgs...), pos.Snapshot)
				return tx.QueryRow(ctx, rebind("SELECT COUNT(DISTINCT d.rid) "+w.cand+" AND d.rid <= ?"), args...).Scan(&res.Total)
			}
			return tx.QueryRow(ctx, rebind("SELECT COUNT(*) FROM "+w.from+" WHERE "+w.where), w.args...).Scan(&res.Total)
		}
		wantTotal := !q.NoTotal || q.Summary == "count"
		if q.Summary == "count" || q.Count == 0 {
			if wantTotal {
				return count()
			}
			return nil
		}
		if wantTotal && w.indexOnly && !sorted {
			// One pass over the index tables gives both the total and the
			// page; only the page's rows are read from fhir_resources.
			return pageFromIndex(ctx, tx, req, w, pos, res)
		}
		where, args := w.where, append([]any(nil), w.args...)
		var order string
		var limitArgs []any
		if !sorted {
			where += " AND r.rid > ?"
			args = append(args, pos.After)
			order = "r.rid ASC"
			limitArgs = []any{q.Count + 1}
		} else {
			var oargs []any
			order, oargs = orderBy(q)
			args = append(args, oargs...)
			limitArgs = []any{q.Count + 1, pos.Offset}
		}
		sqlText := "SELECT r.rid, r.type, r.id, r.version, r.last_updated, r.deleted, r.json FROM " + w.from +
			" WHERE " + where + " ORDER BY " + order + " LIMIT ?"
		if len(limitArgs) == 2 {
			sqlText += " OFFSET ?"
		}
		args = append(args, limitArgs...)
		matches, err := queryRows(ctx, tx, sqlText, args...)
		if err != nil {
			return err
		}
		matches = cutPage(matches, q, pos, res)
		if wantTotal {
			if res.Next == "" && first {
				// A first page that holds every match is its own count.
				res.Total = len(matches)
			} else if err := count(); err != nil {
				return err
			}
		}
		return pageResult(ctx, tx, req, matches, res)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: search %s: %w", q.Type, err)
	}
	return res, nil
}

// cutPage keeps the first q.Count of matches (fetched with one extra row
// to tell whether there is a next page) and, when there were more, records
// in res where the next page starts.
func cutPage(matches []row, q *search.Query, pos searchPos, res *fhir.SearchResult) []row {
	if len(matches) > q.Count {
		matches = matches[:q.Count]
		res.Next = pos.Next(len(q.Sort) > 0, matches[len(matches)-1].rid, q.Count)
	}
	return matches
}

// pageResult sets res's matches and the resources they include.
func pageResult(ctx context.Context, tx pgx.Tx, req fhir.SearchRequest, matches []row, res *fhir.SearchResult) error {
	res.Matches = resources(matches)
	if len(matches) == 0 {
		return nil
	}
	var err error
	res.Included, res.IncludedCut, err = includes(ctx, tx, req, matches)
	return err
}

// pageFromIndex fills res (Total, Matches, paging) for a search whose
// candidates on the index tables are exactly its matches (w.indexOnly), in
// the default order.
func pageFromIndex(ctx context.Context, tx pgx.Tx, req fhir.SearchRequest, w sqlWhere, pos searchPos, res *fhir.SearchResult) error {
	q := req.Query
	args := append(append([]any(nil), w.candArgs...), pos.Snapshot)
	rows, err := tx.Query(ctx, rebind("SELECT DISTINCT d.rid "+w.cand+" AND d.rid <= ? ORDER BY d.rid"), args...)
	if err != nil {
		return err
	}
	var page []any
	total := 0
	for rows.Next() {
		var rid int64
		if err := rows.Scan(&rid); err != nil {
			rows.Close()
			return err
		}
		total++
		if rid > pos.After && len(page) <= q.Count {
			page = append(page, rid)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	res.Total = total
	if len(page) == 0 {
		return nil
	}
	matches, err := queryRows(ctx, tx, "SELECT "+resourceCols+" FROM fhir_resources WHERE rid IN ("+
		placeholders(len(page))+") AND deleted = 0 ORDER BY rid", page...)
	if err != nil {
		return err
	}
	return pageResult(ctx, tx, req, cutPage(matches, q, pos, res), res)
}

func queryRows(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]row, error) {
	rows, err := tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// resources drops the row numbers.
func resources(rs []row) []fhir.Resource {
	out := make([]fhir.Resource, len(rs))
	for i, r := range rs {
		out[i] = r.Resource
	}
	return out
}

// includer collects the resources of a search's includes: each admitted
// by req.Include (when set), each once, at most req.MaxIncluded (when
// set); cut records that more were admitted than that.
type includer struct {
	req  fhir.SearchRequest
	seen map[int64]bool
	out  []fhir.Resource
	cut  bool
}

// add takes the rows of one include query; it returns the rows added.
func (in *includer) add(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]row, error) {
	rows, err := tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var added []row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		if in.seen[r.rid] {
			continue
		}
		in.seen[r.rid] = true
		if in.req.Include != nil && !in.req.Include(r.Resource) {
			continue
		}
		if in.req.MaxIncluded > 0 && len(in.out) >= in.req.MaxIncluded {
			in.cut = true
			return added, nil
		}
		in.out = append(in.out, r.Resource)
		added = append(added, r)
	}
	return added, rows.Err()
}

func includes(ctx context.Context, tx pgx.Tx, req fhir.SearchRequest, matches []row) ([]fhir.Resource, bool, error) {
	q, patients := req.Query, req.Patients
	in := &includer{req: req, seen: map[int64]bool{}}
	for _, m := range matches {
		in.seen[m.rid] = true
	}
	restrict := func(alias string) (string, []any) {
		if patients == nil {
			return "", nil
		}
		if len(patients) == 0 {
			return " AND FALSE", nil
		}
		args := make([]any, len(patients))
		for i, p := range patients {
			args[i] = p
		}
		return " AND " + alias + ".rid IN (SELECT rid FROM fhir_compartment WHERE patient_id IN (" + placeholders(len(patients)) + "))", args
	}
	// Includes apply to the matches; :iterate ones also to what they
	// included, for a few rounds.
	frontier := matches
	for round := 0; round < 4 && len(frontier) > 0 && !in.cut; round++ {
		var next []row
		for _, inc := range q.Includes {
			if (round > 0 && !inc.Iterate) || in.cut {
				continue
			}
			var rids []any
			for _, m := range frontier {
				if m.Type == inc.SourceType {
					rids = append(rids, m.rid)
				}
			}
			if len(rids) == 0 {
				continue
			}
			args := append([]any{}, rids...)
			args = append(args, inc.SourceType, inc.Param)
			cond := ""
			if inc.TargetType != "" {
				cond = " AND i.ref_type = ?"
				args = append(args, inc.TargetType)
			}
			rc, rargs := restrict("t")
			args = append(args, rargs...)
			rs, err := in.add(ctx, tx, `SELECT DISTINCT ON (t.rid) t.rid, t.type, t.id, t.version, t.last_updated, t.deleted, t.json
				FROM fhir_index i JOIN fhir_resources t ON t.type = i.ref_type AND t.id = i.ref_id
				WHERE i.rid IN (`+placeholders(len(rids))+`) AND i.type = ? AND i.param = ? AND i.ref_id IS NOT NULL`+cond+` AND t.deleted = 0`+rc+` ORDER BY t.rid`, args...)
			if err != nil {
				return nil, false, err
			}
			next = append(next, rs...)
		}
		for _, inc := range q.RevIncludes {
			if (round > 0 && !inc.Iterate) || in.cut {
				continue
			}
			byType := map[string][]any{}
			var typeOrder []string
			for _, m := range frontier {
				if inc.TargetType == "" || inc.TargetType == m.Type {
					if byType[m.Type] == nil {
						typeOrder = append(typeOrder, m.Type)
					}
					byType[m.Type] = append(byType[m.Type], m.ID)
				}
			}
			for _, typ := range typeOrder {
				if in.cut {
					break
				}
				ids := byType[typ]
				args := []any{typ}
				args = append(args, ids...)
				args = append(args, inc.SourceType, inc.Param)
				rc, rargs := restrict("t")
				args = append(args, rargs...)
				rs, err := in.add(ctx, tx, `SELECT DISTINCT ON (t.rid) t.rid, t.type, t.id, t.version, t.last_updated, t.deleted, t.json
					FROM fhir_index i JOIN fhir_resources t ON t.rid = i.rid
					WHERE i.ref_id IS NOT NULL AND i.ref_type = ? AND i.ref_id IN (`+placeholders(len(ids))+`) AND i.type = ? AND i.param = ? AND t.deleted = 0`+rc+` ORDER BY t.rid`, args...)
				if err != nil {
					return nil, false, err
				}
				next = append(next, rs...)
			}
		}
		frontier = next
	}
	return in.out, in.cut, nil
}
