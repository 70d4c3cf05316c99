package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store/internal/fhircursor"
	"github.com/smartgate/smartgate/store/internal/fhirsql"
)

var _ fhir.Store = (*DB)(nil)

// ReadResource returns the current version of a resource (see fhir.Store).
func (db *DB) ReadResource(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	r, err := fhirsql.ScanResource(db.pool.QueryRow(ctx, "SELECT "+fhirsql.ResourceCols+" FROM fhir_resources WHERE type = $1 AND id = $2", typ, id))
	if err != nil {
		return nil, fmt.Errorf("postgres: read %s/%s: %w", typ, id, mapErr(err))
	}
	return r, nil
}

// ReadResourceVersion returns one version of a resource.
func (db *DB) ReadResourceVersion(ctx context.Context, typ, id string, version int64) (*fhir.Resource, error) {
	r, err := fhirsql.ScanResource(db.pool.QueryRow(ctx, `SELECT seq, type, id, version, last_updated, deleted, json
		FROM fhir_history WHERE type = $1 AND id = $2 AND version = $3`, typ, id, version))
	if err != nil {
		return nil, fmt.Errorf("postgres: read %s/%s/_history/%d: %w", typ, id, version, mapErr(err))
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
	err = db.read(ctx, func(tx pgx.Tx) error {
		page, err = fhirSQL.History(ctx, querier{tx}, q, before)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: history: %w", err)
	}
	return page, nil
}

// fhirLock is the advisory lock key every FHIR write transaction holds
// ("fhirwrit" in ASCII; the migrations' key differs).
const fhirLock = 0x6668697277726974

// TransactResources runs fn in one write transaction (see fhir.Store).
//
// fhir.Store runs fn exactly once, so the transaction cannot be one of
// db.write's SERIALIZABLE ones, which are retried after a serialisation
// failure. It is serialisable by a lock instead, as store/sqlite's is by
// SQLite's database lock: its first statement takes the transaction-level
// advisory lock fhirLock, which every FHIR write takes (on any replica),
// and holds it to the commit or rollback. The transaction is READ
// COMMITTED, so that each of fn's reads sees every write committed before
// the lock was granted (a REPEATABLE READ or SERIALIZABLE snapshot would
// be taken by the lock statement itself, before it waits); no other FHIR
// write can commit until this one ends, so what fn reads stays true until
// its commit. The index tables are written only here, and the lock also
// keeps rid and seq growing in commit order, which the search snapshot and
// the history cursor rely on. storetest.FHIRConditionalWrites checks it
// with several pools on one database.
func (db *DB) TransactResources(ctx context.Context, fn func(tx fhir.Tx) error) error {
	if err := db.transactResources(ctx, fn); err != nil {
		return fmt.Errorf("postgres: fhir transaction: %w", err)
	}
	return nil
}

func (db *DB) transactResources(ctx context.Context, fn func(tx fhir.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(fhirLock)); err != nil {
		return fmt.Errorf("lock: %w", mapErr(err))
	}
	if err := fn(&fhirTx{tx: tx}); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit(ctx))
}

type fhirTx struct {
	tx pgx.Tx
	// absent holds the resources (type + "/" + id) that Current found
	// missing and that have not been Put since: storing one inserts a new
	// row, which has no index or compartment rows to replace.
	absent map[string]bool
}

func (t *fhirTx) Current(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	r, err := fhirsql.ScanResource(t.tx.QueryRow(ctx, "SELECT "+fhirsql.ResourceCols+" FROM fhir_resources WHERE type = $1 AND id = $2", typ, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			if t.absent == nil {
				t.absent = map[string]bool{}
			}
			t.absent[typ+"/"+id] = true
		}
		return nil, fmt.Errorf("postgres: read %s/%s: %w", typ, id, mapErr(err))
	}
	return r, nil
}

func (t *fhirTx) Match(ctx context.Context, req fhir.SearchRequest, limit int) ([]string, error) {
	query, args := fhirSQL.Match(req, limit)
	rows, err := t.tx.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: match: %w", mapErr(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: match: %w", mapErr(err))
	}
	return ids, nil
}

func (t *fhirTx) Compartments(ctx context.Context, typ, id string) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT c.patient_id FROM fhir_compartment c JOIN fhir_resources r ON r.rid = c.rid
		WHERE r.type = $1 AND r.id = $2 ORDER BY c.patient_id COLLATE "C"`, typ, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: compartments of %s/%s: %w", typ, id, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: compartments of %s/%s: %w", typ, id, mapErr(err))
	}
	return out, nil
}

func (t *fhirTx) LastContent(ctx context.Context, typ, id string) ([]byte, error) {
	var body []byte
	err := t.tx.QueryRow(ctx, `SELECT json FROM fhir_history WHERE type = $1 AND id = $2 AND deleted = 0
		ORDER BY version DESC LIMIT 1`, typ, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: last content of %s/%s: %w", typ, id, mapErr(err))
	}
	return body, nil
}

// The statements of Put. The index and compartment rows go in with one
// statement each, from arrays.
const (
	sqlUpsertResource = `INSERT INTO fhir_resources(type, id, version, last_updated, deleted, json) VALUES($1,$2,$3,$4,$5,$6)
		ON CONFLICT(type, id) DO UPDATE SET version = excluded.version, last_updated = excluded.last_updated,
		deleted = excluded.deleted, json = excluded.json RETURNING rid`
	sqlInsertHistory = `INSERT INTO fhir_history(type, id, version, last_updated, method, deleted, json) VALUES($1,$2,$3,$4,$5,$6,$7)`
	sqlInsertIndex   = `INSERT INTO fhir_index(rid, type, param, sys, code, text, lo, hi, ref_type, ref_id)
		SELECT $1::bigint, $2::text, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::text[], $10::text[])`
	sqlInsertCompartments = `INSERT INTO fhir_compartment(patient_id, rid) SELECT DISTINCT p, $2::bigint FROM unnest($1::text[]) p
		ON CONFLICT DO NOTHING`
)

func (t *fhirTx) Put(ctx context.Context, w *fhir.Write) error {
	us := encodeTime(w.LastUpdated)
	var deleted int64
	var body []byte = w.JSON
	if w.Deleted {
		deleted, body = 1, nil
	}
	// One round trip for the resource row and its history entry.
	b := &pgx.Batch{}
	b.Queue(sqlUpsertResource, w.Type, w.ID, w.Version, us, deleted, body)
	b.Queue(sqlInsertHistory, w.Type, w.ID, w.Version, us, w.Method, deleted, body)
	br := t.tx.SendBatch(ctx, b)
	var rid int64
	if err := br.QueryRow().Scan(&rid); err != nil {
		br.Close()
		return fmt.Errorf("postgres: put %s/%s: %w", w.Type, w.ID, mapErr(err))
	}
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("postgres: put %s/%s history: %w", w.Type, w.ID, mapErr(err))
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("postgres: put %s/%s: %w", w.Type, w.ID, mapErr(err))
	}

	// A second for its index values and compartments.
	b = &pgx.Batch{}
	if key := w.Type + "/" + w.ID; t.absent[key] {
		delete(t.absent, key)
	} else {
		b.Queue(`DELETE FROM fhir_index WHERE rid = $1`, rid)
		b.Queue(`DELETE FROM fhir_compartment WHERE rid = $1`, rid)
	}
	index := w.Index
	if w.Deleted {
		// Searches rely on it: index rows exist only for the current,
		// non-deleted version of a resource (see sqlWhere.indexOnly).
		index = nil
	}
	if len(index) > 0 {
		n := len(index)
		params, syss := make([]string, n), make([]string, n)
		codes, texts, refTypes, refIDs := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		los, his := make([]*float64, n), make([]*float64, n)
		nullable := func(s string) *string {
			if s == "" {
				return nil
			}
			return &s
		}
		for i, e := range index {
			params[i], syss[i] = e.Param, e.System
			switch e.Type {
			case search.TypeDate, search.TypeNumber, search.TypeQuantity:
				lo, hi := e.Lo, e.Hi
				los[i], his[i] = &lo, &hi
			}
			if e.RefID != "" {
				refTypes[i], refIDs[i] = &index[i].RefType, &index[i].RefID
			}
			codes[i] = nullable(e.Code)
			if e.Type == search.TypeReference && e.RefID != "" {
				codes[i] = nil // matched by its target, not as written
			}
			texts[i] = nullable(e.Text)
		}
		b.Queue(sqlInsertIndex, rid, w.Type, params, syss, codes, texts, los, his, refTypes, refIDs)
	}
	if len(w.Patients) > 0 {
		b.Queue(sqlInsertCompartments, w.Patients, rid)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: index %s/%s: %w", w.Type, w.ID, mapErr(err))
	}
	return nil
}

// rebind numbers the ? marks of q as $1, $2, ...: the search SQL is built
// from fragments with positional marks, as store/sqlite's is, and numbered
// once it is whole. The fragments hold no ? other than the marks (no
// string literal, no jsonb operator).
func rebind(q string) string {
	n := strings.Count(q, "?")
	if n == 0 {
		return q
	}
	var sb strings.Builder
	sb.Grow(len(q) + 3*n)
	i := 0
	for {
		j := strings.IndexByte(q, '?')
		if j < 0 {
			sb.WriteString(q)
			return sb.String()
		}
		i++
		sb.WriteString(q[:j])
		sb.WriteByte('$')
		sb.WriteString(fmt.Sprint(i))
		q = q[j+1:]
	}
}
