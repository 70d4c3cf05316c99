package fhirsql

import (
	"context"
	"strings"
	"time"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/internal/dbtime"
	"github.com/smartgate/smartgate/store/internal/fhircursor"
)

// History lists versions in tx, a read transaction, newest first, by
// seq: a page's cursor is the oldest seq it shows (before, 0 on the first
// page, from fhircursor.History), and the next page holds the versions
// below it. seq grows in commit order (each backend's TransactResources
// keeps it so).
func (d *Dialect) History(ctx context.Context, tx Querier, q fhir.HistoryQuery, before int64) (*fhir.HistoryPage, error) {
	var where []string
	var args []any
	if q.Type != "" {
		where = append(where, "h.type = ?")
		args = append(args, q.Type)
		if q.ID != "" {
			where = append(where, "h.id = ?")
			args = append(args, q.ID)
		}
	}
	if len(q.ExcludeTypes) > 0 {
		where = append(where, "h.type NOT IN ("+placeholders(len(q.ExcludeTypes))+")")
		for _, t := range q.ExcludeTypes {
			args = append(args, t)
		}
	}
	if !q.Since.IsZero() {
		// At the millisecond, as FHIR instants are written and as _since
		// compared before last_updated kept microseconds.
		where = append(where, "h.last_updated >= ?")
		args = append(args, dbtime.Encode(q.Since.Truncate(time.Millisecond)))
	}
	if q.Patients != nil {
		if len(q.Patients) == 0 {
			where = append(where, d.False)
		} else {
			where = append(where, `EXISTS (SELECT 1 FROM fhir_resources r JOIN fhir_compartment c ON c.rid = r.rid
				WHERE r.type = h.type AND r.id = h.id AND c.patient_id IN (`+placeholders(len(q.Patients))+`))`)
			for _, p := range q.Patients {
				args = append(args, p)
			}
		}
	}
	cond := d.True
	if len(where) > 0 {
		cond = strings.Join(where, " AND ")
	}
	count := q.Count
	if count <= 0 || count > search.MaxCount {
		count = search.DefaultCount
	}
	page := &fhir.HistoryPage{}
	var oldest int64 // seq of the last entry read
	if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM fhir_history h WHERE "+cond, args...).Scan(&page.Total); err != nil {
		return nil, err
	}
	pcond, pargs := cond, append([]any(nil), args...)
	if before > 0 {
		pcond += " AND h.seq < ?"
		pargs = append(pargs, before)
	}
	pargs = append(pargs, count+1)
	rows, err := tx.Query(ctx, `SELECT seq, type, id, version, last_updated, deleted, json, method
		FROM fhir_history h WHERE `+pcond+` ORDER BY seq DESC LIMIT ?`, pargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e fhir.HistoryEntry
		var us, deleted int64
		if len(page.Entries) == count {
			// The extra row only tells that there is a next page.
			page.Next = fhircursor.Encode(fhircursor.KindHistory, oldest)
			break
		}
		if err := rows.Scan(&oldest, &e.Type, &e.ID, &e.Version, &us, &deleted, &e.JSON, &e.Method); err != nil {
			return nil, err
		}
		e.LastUpdated = dbtime.Decode(us)
		e.Deleted = deleted != 0
		page.Entries = append(page.Entries, e)
	}
	rows.Close() // before Err, as pgx wants after a break
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return page, nil
}
