package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/fhircursor"
	"github.com/smartgate/smartgate/store/internal/fhirsql"
)

var _ fhir.Store = (*DB)(nil)

// ReadResource returns the current version of a resource (see fhir.Store).
func (db *DB) ReadResource(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	r, err := fhirsql.ScanResource(db.stmts.readRes.QueryRowContext(ctx, typ, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: read %s/%s: %w", typ, id, mapErr(err))
	}
	return r, nil
}

// ReadResourceVersion returns one version of a resource.
func (db *DB) ReadResourceVersion(ctx context.Context, typ, id string, version int64) (*fhir.Resource, error) {
	r, err := fhirsql.ScanResource(db.r.QueryRowContext(ctx, `SELECT seq, type, id, version, last_updated, deleted, json
		FROM fhir_history WHERE type = ? AND id = ? AND version = ?`, typ, id, version))
	if err != nil {
		return nil, fmt.Errorf("sqlite: read %s/%s/_history/%d: %w", typ, id, version, mapErr(err))
	}
	return r, nil
}

// ResourceHistory lists versions, newest first (see fhirsql.History).
func (db *DB) ResourceHistory(ctx context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	before, err := fhircursor.History(q.Cursor)
	if err != nil {
		return nil, err
	}
	var page *fhir.HistoryPage
	err = db.read(ctx, func(tx *sql.Tx) error {
		page, err = fhirSQL.History(ctx, querier{tx}, q, before)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	return page, nil
}

// TransactResources runs fn in one write transaction (see fhir.Store).
//
// It is serialisable by SQLite's database lock, not by this process having
// one writer connection: the writer's transactions are BEGIN IMMEDIATE
// (_txlock=immediate in Open), which takes the write lock before fn's first
// read and holds it to the commit, so a write from another connection or
// process (a second DB on the same file) waits for it (busy_timeout) instead
// of interleaving. Writes that the group commit batches into one
// transaction run one after the other, each seeing the ones before it.
// storetest.FHIRConditionalWrites checks it with two handles on one file.
func (db *DB) TransactResources(ctx context.Context, fn func(tx fhir.Tx) error) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		// 16 MiB holds the index pages a large import keeps touching; a
		// larger cache made `fhir import` slower (about a fifth more CPU,
		// most of it in freeing the pages again at close).
		if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -16384"); err != nil {
			return err
		}
		ft := &fhirTx{tx: tx}
		defer ft.close()
		return fn(ft)
	})
	if err != nil {
		return fmt.Errorf("sqlite: fhir transaction: %w", err)
	}
	return nil
}

type fhirTx struct {
	tx                                 *sql.Tx
	upsert, hist, idx, delIdx, delComp *sql.Stmt
	comp, cur                          *sql.Stmt
	// absent holds the resources (type + "/" + id) that Current found
	// missing and that have not been Put since: storing one inserts a new
	// row, which has no index or compartment rows to replace.
	absent map[string]bool
}

func (t *fhirTx) close() {
	for _, s := range []*sql.Stmt{t.upsert, t.hist, t.idx, t.delIdx, t.delComp, t.comp, t.cur} {
		if s != nil {
			s.Close()
		}
	}
}

// Current reads with a statement prepared once per transaction: an import
// calls it for every resource it stores.
func (t *fhirTx) Current(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	if t.cur == nil {
		st, err := t.tx.PrepareContext(ctx, "SELECT "+fhirsql.ResourceCols+" FROM fhir_resources WHERE type = ? AND id = ?")
		if err != nil {
			return nil, fmt.Errorf("sqlite: read %s/%s: %w", typ, id, err)
		}
		t.cur = st
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := fhirsql.ScanResource(t.cur.QueryRowContext(context.WithoutCancel(ctx), typ, id))
	if err != nil {
		err = mapErr(err)
		if errors.Is(err, store.ErrNotFound) {
			if t.absent == nil {
				t.absent = map[string]bool{}
			}
			t.absent[typ+"/"+id] = true
		}
		return nil, fmt.Errorf("sqlite: read %s/%s: %w", typ, id, err)
	}
	return r, nil
}

func (t *fhirTx) Match(ctx context.Context, req fhir.SearchRequest, limit int) ([]string, error) {
	query, args := fhirSQL.Match(req, limit)
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: match: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (t *fhirTx) Compartments(ctx context.Context, typ, id string) ([]string, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT c.patient_id FROM fhir_compartment c JOIN fhir_resources r ON r.rid = c.rid
		WHERE r.type = ? AND r.id = ? ORDER BY c.patient_id`, typ, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: compartments of %s/%s: %w", typ, id, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *fhirTx) LastContent(ctx context.Context, typ, id string) ([]byte, error) {
	var body []byte
	err := t.tx.QueryRowContext(ctx, `SELECT json FROM fhir_history WHERE type = ? AND id = ? AND deleted = 0
		ORDER BY version DESC LIMIT 1`, typ, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: last content of %s/%s: %w", typ, id, mapErr(err))
	}
	return body, nil
}

func (t *fhirTx) prepare(ctx context.Context) error {
	if t.upsert != nil {
		return nil
	}
	var err error
	prep := func(s string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = t.tx.PrepareContext(ctx, s)
		return st
	}
	t.upsert = prep(`INSERT INTO fhir_resources(type, id, version, last_updated, deleted, json) VALUES(?,?,?,?,?,?)
		ON CONFLICT(type, id) DO UPDATE SET version = excluded.version, last_updated = excluded.last_updated,
		deleted = excluded.deleted, json = excluded.json RETURNING rid`)
	t.hist = prep(`INSERT INTO fhir_history(type, id, version, last_updated, method, deleted, json) VALUES(?,?,?,?,?,?,?)`)
	t.idx = prep(`INSERT INTO fhir_index(rid, type, param, sys, code, text, lo, hi, ref_type, ref_id) VALUES(?,?,?,?,?,?,?,?,?,?)`)
	t.delIdx = prep(`DELETE FROM fhir_index WHERE rid = ?`)
	t.delComp = prep(`DELETE FROM fhir_compartment WHERE rid = ?`)
	t.comp = prep(`INSERT OR IGNORE INTO fhir_compartment(patient_id, rid) VALUES(?,?)`)
	return err
}

func (t *fhirTx) Put(ctx context.Context, w *fhir.Write) error {
	if err := t.prepare(ctx); err != nil {
		return err
	}
	// A Put runs a dozen short statements. With a context that can end,
	// the driver starts a watcher goroutine for each (a tenth of an
	// import's writing CPU); checking ctx once per Put is enough, and the
	// transaction itself still ends with ctx.
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	us := encodeTime(w.LastUpdated)
	deleted := 0
	var body []byte = w.JSON
	if w.Deleted {
		deleted, body = 1, nil
	}
	var rid int64
	if err := t.upsert.QueryRowContext(ctx, w.Type, w.ID, w.Version, us, deleted, body).Scan(&rid); err != nil {
		return fmt.Errorf("sqlite: put %s/%s: %w", w.Type, w.ID, err)
	}
	if _, err := t.hist.ExecContext(ctx, w.Type, w.ID, w.Version, us, w.Method, deleted, body); err != nil {
		return fmt.Errorf("sqlite: put %s/%s history: %w", w.Type, w.ID, mapErr(err))
	}
	if key := w.Type + "/" + w.ID; t.absent[key] {
		delete(t.absent, key)
	} else {
		if _, err := t.delIdx.ExecContext(ctx, rid); err != nil {
			return err
		}
		if _, err := t.delComp.ExecContext(ctx, rid); err != nil {
			return err
		}
	}
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	index := w.Index
	if w.Deleted {
		// Searches rely on it: index rows exist only for the current,
		// non-deleted version of a resource (see sqlWhere.indexOnly).
		index = nil
	}
	for _, e := range index {
		var lo, hi, refType, refID any
		switch e.Type {
		case search.TypeDate, search.TypeNumber, search.TypeQuantity:
			lo, hi = e.Lo, e.Hi
		}
		if e.RefID != "" {
			refType, refID = e.RefType, e.RefID
		}
		code := nullable(e.Code)
		if e.Type == search.TypeReference && e.RefID != "" {
			code = nil // matched by its target, not as written
		}
		if _, err := t.idx.ExecContext(ctx, rid, w.Type, e.Param, e.System, code, nullable(e.Text), lo, hi, refType, refID); err != nil {
			return fmt.Errorf("sqlite: index %s/%s: %w", w.Type, w.ID, err)
		}
	}
	for _, p := range w.Patients {
		if _, err := t.comp.ExecContext(ctx, p, rid); err != nil {
			return fmt.Errorf("sqlite: compartment %s/%s: %w", w.Type, w.ID, err)
		}
	}
	return nil
}
