package fhirsql

import (
	"context"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/internal/fhircursor"
)

// Search is a search request ready to run, its cursor read.
type Search struct {
	d     *Dialect
	req   fhir.SearchRequest
	now   time.Time
	pos   fhircursor.Pos
	first bool
}

// NewSearch reads req's cursor (the error is fhircursor's) and takes the
// time the search compares with: req.Now, or the current time.
func (d *Dialect) NewSearch(req fhir.SearchRequest) (*Search, error) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	pos, err := fhircursor.Search(req.Cursor, len(req.Query.Sort) > 0)
	if err != nil {
		return nil, err
	}
	return &Search{d: d, req: req, now: now, pos: pos, first: req.Cursor == ""}, nil
}

// Run runs the search in tx, a read transaction (see fhir.Searcher).
func (s *Search) Run(ctx context.Context, tx Querier) (*fhir.SearchResult, error) {
	res := &fhir.SearchResult{}
	if err := s.run(ctx, tx, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Search) run(ctx context.Context, tx Querier, res *fhir.SearchResult) error {
	d, req, q, now, pos, first := s.d, s.req, s.req.Query, s.now, s.pos, s.first
	sorted := len(q.Sort) > 0
	if first {
		// The snapshot: rows created after the first page are left
		// out of every later one (their rids are higher).
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(rid), 0) FROM fhir_resources").Scan(&pos.Snapshot); err != nil {
			return err
		}
	}
	// The access restriction is the request's, applied to this page
	// as to every other: the cursor only moves the window.
	w := d.buildWhere(q, req.Patients, req.ChainReach, now, "r")
	d.anyOf(&w, req.AnyOf, q.Type, now)
	w.where += " AND r.rid <= ?"
	w.args = append(w.args, pos.Snapshot)
	res.Total = -1
	count := func() error {
		if w.indexOnly {
			// The candidates are the matches: count them without a
			// look-up of each resource row.
			args := append(append([]any(nil), w.candArgs...), pos.Snapshot)
			return tx.QueryRow(ctx, "SELECT COUNT(DISTINCT d.rid) "+w.cand+" AND d.rid <= ?", args...).Scan(&res.Total)
		}
		return tx.QueryRow(ctx, "SELECT COUNT(*) FROM "+w.from+" WHERE "+w.where, w.args...).Scan(&res.Total)
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
		return d.pageFromIndex(ctx, tx, req, w, pos, res)
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
		order, oargs = d.orderBy(q)
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
	return d.pageResult(ctx, tx, req, matches, res)
}

// cutPage keeps the first q.Count of matches (fetched with one extra row
// to tell whether there is a next page) and, when there were more, records
// in res where the next page starts.
func cutPage(matches []Row, q *search.Query, pos fhircursor.Pos, res *fhir.SearchResult) []Row {
	if len(matches) > q.Count {
		matches = matches[:q.Count]
		res.Next = pos.Next(len(q.Sort) > 0, matches[len(matches)-1].RID, q.Count)
	}
	return matches
}

// pageResult sets res's matches and the resources they include.
func (d *Dialect) pageResult(ctx context.Context, tx Querier, req fhir.SearchRequest, matches []Row, res *fhir.SearchResult) error {
	res.Matches = resources(matches)
	if len(matches) == 0 {
		return nil
	}
	var err error
	res.Included, res.IncludedCut, err = d.includes(ctx, tx, req, matches)
	return err
}

// pageFromIndex fills res (Total, Matches, paging) for a search whose
// candidates on the index tables are exactly its matches (w.indexOnly), in
// the default order.
func (d *Dialect) pageFromIndex(ctx context.Context, tx Querier, req fhir.SearchRequest, w sqlWhere, pos fhircursor.Pos, res *fhir.SearchResult) error {
	q := req.Query
	args := append(append([]any(nil), w.candArgs...), pos.Snapshot)
	rows, err := tx.Query(ctx, "SELECT DISTINCT d.rid "+w.cand+" AND d.rid <= ? ORDER BY d.rid", args...)
	if err != nil {
		return err
	}
	var page []any
	total := 0
	// One destination for every row: through the Rows interface, each
	// Scan(&rid) would allocate its argument list.
	var rid int64
	dest := []any{&rid}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
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
	matches, err := queryRows(ctx, tx, "SELECT "+ResourceCols+" FROM fhir_resources WHERE rid IN ("+
		placeholders(len(page))+") AND deleted = 0 ORDER BY rid", page...)
	if err != nil {
		return err
	}
	return d.pageResult(ctx, tx, req, cutPage(matches, q, pos, res), res)
}

func queryRows(ctx context.Context, tx Querier, query string, args ...any) ([]Row, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := ScanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// resources drops the row numbers.
func resources(rs []Row) []fhir.Resource {
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
func (in *includer) add(ctx context.Context, tx Querier, query string, args ...any) ([]Row, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var added []Row
	for rows.Next() {
		r, err := ScanRow(rows)
		if err != nil {
			return nil, err
		}
		if in.seen[r.RID] {
			continue
		}
		in.seen[r.RID] = true
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

func (d *Dialect) includes(ctx context.Context, tx Querier, req fhir.SearchRequest, matches []Row) ([]fhir.Resource, bool, error) {
	q, patients := req.Query, req.Patients
	in := &includer{req: req, seen: map[int64]bool{}}
	for _, m := range matches {
		in.seen[m.RID] = true
	}
	restrict := func(alias string) (string, []any) {
		if patients == nil {
			return "", nil
		}
		if len(patients) == 0 {
			return " AND " + d.False, nil
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
		var next []Row
		for _, inc := range q.Includes {
			if (round > 0 && !inc.Iterate) || in.cut {
				continue
			}
			var rids []any
			for _, m := range frontier {
				if m.Type == inc.SourceType {
					rids = append(rids, m.RID)
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
			rs, err := in.add(ctx, tx, `SELECT `+d.Distinct+` t.rid, t.type, t.id, t.version, t.last_updated, t.deleted, t.json
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
				rs, err := in.add(ctx, tx, `SELECT `+d.Distinct+` t.rid, t.type, t.id, t.version, t.last_updated, t.deleted, t.json
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
