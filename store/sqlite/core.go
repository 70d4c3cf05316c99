package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/store"
)

// Setting returns the value stored under key, or store.ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := db.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("sqlite: setting %q: %w", key, mapErr(err))
	}
	return v, nil
}

// PutSetting stores value under key, replacing any previous value.
func (db *DB) PutSetting(ctx context.Context, key string, value []byte) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings(key, value, updated_at) VALUES(?,?,?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, encodeTime(time.Now()))
		return err
	})
}

// SettingOrCreate returns the value stored under key; when there is none it
// stores the value made by create and returns that. Concurrent callers agree
// on one value.
func (db *DB) SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error) {
	if v, err := db.Setting(ctx, key); err == nil {
		return v, nil
	}
	var out []byte
	err := db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&out)
		if err == nil {
			return nil
		}
		if err != sql.ErrNoRows {
			return err
		}
		v, err := create()
		if err != nil {
			return err
		}
		out = v
		_, err = tx.ExecContext(ctx, "INSERT INTO settings(key, value, updated_at) VALUES(?,?,?)",
			key, v, encodeTime(time.Now()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: setting %q: %w", key, err)
	}
	return out, nil
}

// InsertAudit writes events in one transaction. The audit.Recorder used by
// request handlers (see audit.go in package server) batches into this.
func (db *DB) InsertAudit(ctx context.Context, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		stmt := tx.StmtContext(ctx, db.stmts.insertAudit)
		defer stmt.Close()
		for _, e := range evs {
			if e.At.IsZero() {
				e.At = time.Now()
			}
			if _, err := stmt.ExecContext(ctx, encodeTime(e.At), e.Kind, e.Actor, e.ClientID,
				e.Patient, e.Action, e.Resource, e.Scopes, e.Outcome, e.Detail, e.Address, e.RequestID, e.Trace); err != nil {
				return err
			}
		}
		return nil
	})
}

// AuditEvent returns the audit record with store id id, or
// store.ErrNotFound.
func (db *DB) AuditEvent(ctx context.Context, id int64) (audit.Event, error) {
	var e audit.Event
	var at int64
	err := db.r.QueryRowContext(ctx, `SELECT id, at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, trace
		FROM audit_events WHERE id = ?`, id).Scan(&e.ID, &at, &e.Kind, &e.Actor, &e.ClientID, &e.Patient, &e.Action, &e.Resource, &e.Scopes,
		&e.Outcome, &e.Detail, &e.Address, &e.RequestID, &e.Trace)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Event{}, store.ErrNotFound
	}
	if err != nil {
		return audit.Event{}, fmt.Errorf("sqlite: audit event: %w", mapErr(err))
	}
	e.At = decodeTime(at)
	return e, nil
}

// MaxAuditPage bounds one AuditEvents answer.
const MaxAuditPage = 1000

// sqlAuditEvents selects audit records by every field of audit.Filter; each
// condition is off when its parameter is the zero value. The ORDER BY
// direction is added by AuditEvents (ascending for a previous page).
const sqlAuditEvents = `SELECT id, at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, trace
	FROM audit_events
	WHERE (?1 = '' OR kind = ?1) AND (?2 = '' OR actor = ?2) AND at >= ?3 AND (?4 = 0 OR at < ?4)
	AND (?5 = 0 OR id < ?5) AND (?6 = 0 OR id > ?6)
	AND (?7 = '' OR actor = ?7 OR client_id = ?7) AND (?8 = '' OR client_id = ?8)
	AND (?9 = '' OR patient = ?9 OR resource = 'Patient/' || ?9 OR substr(resource, 1, length(?9) + 9) = 'Patient/' || ?9 || '/')
	AND (?10 = '' OR resource = ?10 OR substr(resource, 1, length(?10) + 1) = ?10 || '/')
	AND (?11 = '' OR outcome = ?11)
	ORDER BY id `

// AuditEvents lists audit events, newest first, at most MaxAuditPage (100
// when f.Limit is 0).
func (db *DB) AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, MaxAuditPage)
	order := "DESC LIMIT ?12"
	if f.After > 0 && f.Before <= 0 {
		order = "ASC LIMIT ?12"
	}
	rows, err := db.r.QueryContext(ctx, sqlAuditEvents+order, f.Kind, f.Actor, encodeTime(f.Since), encodeTime(f.Until),
		f.Before, f.After, f.Agent, f.ClientID, f.Patient, f.Resource, f.Outcome, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit events: %w", mapErr(err))
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var e audit.Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Actor, &e.ClientID, &e.Patient, &e.Action, &e.Resource, &e.Scopes,
			&e.Outcome, &e.Detail, &e.Address, &e.RequestID, &e.Trace); err != nil {
			return nil, fmt.Errorf("sqlite: audit events: %w", err)
		}
		e.At = decodeTime(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: audit events: %w", err)
	}
	if strings.HasPrefix(order, "ASC") {
		slices.Reverse(out)
	}
	return out, nil
}

// DeleteAuditBefore deletes the audit records older than t, batch rows per
// statement (so that the writer is never held long), and returns how many
// it deleted.
func (db *DB) DeleteAuditBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	for {
		var n int64
		err := db.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE id IN
				(SELECT id FROM audit_events WHERE at < ? ORDER BY id LIMIT ?)`, encodeTime(t), batch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: delete audit before %s: %w", t.Format(time.RFC3339), mapErr(err))
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
