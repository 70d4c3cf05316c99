package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/audit"
)

// Setting returns the value stored under key, or store.ErrNotFound.
func (db *DB) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	if err := db.pool.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&v); err != nil {
		return nil, fmt.Errorf("postgres: setting %q: %w", key, mapErr(err))
	}
	return v, nil
}

// PutSetting stores value under key, replacing any previous value.
func (db *DB) PutSetting(ctx context.Context, key string, value []byte) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings(key, value, updated_at) VALUES($1,$2,$3)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, encodeTime(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: put setting %q: %w", key, err)
	}
	return nil
}

// SettingOrCreate returns the value stored under key; when there is none it
// stores the value made by create and returns that. Concurrent callers, on
// any replica, agree on one value (the first insert wins; the others read
// it back).
func (db *DB) SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error) {
	if v, err := db.Setting(ctx, key); err == nil {
		return v, nil
	}
	var out []byte
	err := db.write(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT value FROM settings WHERE key = $1", key).Scan(&out)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		v, err := create()
		if err != nil {
			return err
		}
		out = v
		_, err = tx.Exec(ctx, "INSERT INTO settings(key, value, updated_at) VALUES($1,$2,$3)", key, v, encodeTime(time.Now()))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: setting %q: %w", key, err)
	}
	return out, nil
}

const auditCols = `id, at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, trace`

// InsertAudit writes events in one transaction (one round trip: a batch).
func (db *DB) InsertAudit(ctx context.Context, evs []audit.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := db.write(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, e := range evs {
			if e.At.IsZero() {
				e.At = time.Now()
			}
			b.Queue(`INSERT INTO audit_events(at, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, trace)
				VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`, encodeTime(e.At), e.Kind, e.Actor, e.ClientID,
				e.Patient, e.Action, e.Resource, e.Scopes, e.Outcome, e.Detail, e.Address, e.RequestID, e.Trace)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: insert audit: %w", err)
	}
	return nil
}

func scanAudit(s scanner) (audit.Event, error) {
	var e audit.Event
	var at int64
	err := s.Scan(&e.ID, &at, &e.Kind, &e.Actor, &e.ClientID, &e.Patient, &e.Action, &e.Resource, &e.Scopes,
		&e.Outcome, &e.Detail, &e.Address, &e.RequestID, &e.Trace)
	e.At = decodeTime(at)
	return e, err
}

// AuditEvent returns the audit record with store id id, or
// store.ErrNotFound.
func (db *DB) AuditEvent(ctx context.Context, id int64) (audit.Event, error) {
	e, err := scanAudit(db.pool.QueryRow(ctx, `SELECT `+auditCols+` FROM audit_events WHERE id = $1`, id))
	if err != nil {
		return audit.Event{}, fmt.Errorf("postgres: audit event: %w", mapErr(err))
	}
	return e, nil
}

// MaxAuditPage bounds one AuditEvents answer.
const MaxAuditPage = 1000

// sqlAuditEvents selects audit records by every field of audit.Filter; each
// condition is off when its parameter is the zero value (store/sqlite's
// query, in this dialect). The ORDER BY direction is added by AuditEvents.
const sqlAuditEvents = `SELECT ` + auditCols + `
	FROM audit_events
	WHERE ($1::text = '' OR kind = $1) AND ($2::text = '' OR actor = $2) AND at >= $3::bigint AND ($4::bigint = 0 OR at < $4)
	AND ($5::bigint = 0 OR id < $5) AND ($6::bigint = 0 OR id > $6)
	AND ($7::text = '' OR actor = $7 OR client_id = $7) AND ($8::text = '' OR client_id = $8)
	AND ($9::text = '' OR patient = $9 OR resource = 'Patient/' || $9 OR substr(resource, 1, length($9) + 9) = 'Patient/' || $9 || '/')
	AND ($10::text = '' OR resource = $10 OR substr(resource, 1, length($10) + 1) = $10 || '/')
	AND ($11::text = '' OR outcome = $11)
	ORDER BY id `

// AuditEvents lists audit events, newest first, at most MaxAuditPage (100
// when f.Limit is 0).
func (db *DB) AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, MaxAuditPage)
	asc := f.After > 0 && f.Before <= 0
	order := "DESC LIMIT $12"
	if asc {
		order = "ASC LIMIT $12"
	}
	rows, err := db.pool.Query(ctx, sqlAuditEvents+order, f.Kind, f.Actor, encodeTime(f.Since), encodeTime(f.Until),
		f.Before, f.After, f.Agent, f.ClientID, f.Patient, f.Resource, f.Outcome, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit events: %w", mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Event, error) { return scanAudit(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: audit events: %w", mapErr(err))
	}
	if asc {
		slices.Reverse(out)
	}
	return out, nil
}

// DeleteAuditBefore deletes the audit records older than t, batch rows per
// statement, and returns how many it deleted.
func (db *DB) DeleteAuditBefore(ctx context.Context, t time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var total int64
	for {
		var n int64
		err := db.write(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `DELETE FROM audit_events WHERE id IN
				(SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)`, encodeTime(t), batch)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("postgres: delete audit before %s: %w", t.Format(time.RFC3339), err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
