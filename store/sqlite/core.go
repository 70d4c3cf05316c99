package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// AuditEvents lists audit events, newest first.
func (db *DB) AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT id, at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, trace
		FROM audit_events WHERE (? = '' OR kind = ?) AND (? = '' OR actor = ?) AND at >= ?
		ORDER BY id DESC LIMIT ?`
	since := encodeTime(f.Since)
	rows, err := db.r.QueryContext(ctx, q, f.Kind, f.Kind, f.Actor, f.Actor, since, f.Limit)
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
	return out, rows.Err()
}
