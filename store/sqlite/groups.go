package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ account.Directory = (*DB)(nil)

// DeleteUser removes the user; the foreign keys remove their e-mails,
// phone numbers, memberships, consents, sessions, second factor, links of
// federated identities and sign-in codes. The
// groups they belonged to change (version and lastModified move on).
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE groups SET version=version+1, last_modified=?
			WHERE id IN (SELECT group_id FROM group_members WHERE user_id=?)`, now, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id=?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete user %q: %w", id, err)
	}
	return nil
}

// encodeCeiling is the stored ceiling: NULL for none (nil), ” for an
// empty one.
func encodeCeiling(c []string) any {
	if c == nil {
		return nil
	}
	return strings.Join(c, " ")
}

func decodeCeiling(c sql.NullString) []string {
	if !c.Valid {
		return nil
	}
	return append([]string{}, strings.Fields(c.String)...)
}

// CreateGroup stores g with its members, assigning g.ID (when empty) and
// g.Meta.
func (db *DB) CreateGroup(ctx context.Context, g *account.Group) error {
	if err := rowmap.ValidGroup(g); err != nil {
		return fmt.Errorf("sqlite: create group: %w", err)
	}
	if g.ID == "" {
		g.ID = account.NewID()
	}
	now := storedTime(time.Now())
	meta := account.Meta{Created: now, LastModified: now, Version: 1}
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO groups (id, display_name, external_id, roles, ceiling, created, last_modified, version)
			VALUES (?,?,?,?,?,?,?,?)`, g.ID, g.DisplayName, g.ExternalID, strings.Join(g.Roles, " "), encodeCeiling(g.Ceiling),
			encodeTime(meta.Created), encodeTime(meta.LastModified), meta.Version)
		if err != nil {
			return err
		}
		return addMembers(ctx, tx, g.ID, memberIDs(g.Members))
	})
	if err != nil {
		return fmt.Errorf("sqlite: create group %q: %w", g.DisplayName, err)
	}
	g.Meta = meta
	return nil
}

func memberIDs(ms []account.Member) []string {
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.Value)
	}
	return ids
}

// addMembers makes the users ids members of group id (present ones stay),
// with two statements whatever their number; an unknown user is
// store.ErrNotFound.
func addMembers(ctx context.Context, tx *sql.Tx, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	var unknown string
	err = tx.QueryRowContext(ctx, `SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = j.value) LIMIT 1`, string(b)).Scan(&unknown)
	switch {
	case err == nil:
		return fmt.Errorf("%w: member %q is no user", store.ErrNotFound, unknown)
	case err != sql.ErrNoRows:
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO group_members (group_id, user_id)
		SELECT ?, j.value FROM json_each(?) j`, id, string(b))
	return err
}

// removeMembers ends the memberships of ids in group id (non-members are
// ignored).
func removeMembers(ctx context.Context, tx *sql.Tx, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM group_members WHERE group_id = ? AND user_id IN (SELECT value FROM json_each(?))`,
		id, string(b))
	return err
}

const groupColumns = `g.id, g.display_name, g.external_id, g.roles, g.ceiling, g.created, g.last_modified, g.version`

func scanGroup(s scanner) (*account.Group, error) {
	var g account.Group
	var roles string
	var ceiling sql.NullString
	var created, modified int64
	if err := s.Scan(&g.ID, &g.DisplayName, &g.ExternalID, &roles, &ceiling, &created, &modified, &g.Meta.Version); err != nil {
		return nil, err
	}
	g.Roles, g.Ceiling = rowmap.SplitSpace(roles), decodeCeiling(ceiling)
	g.Meta.Created, g.Meta.LastModified = decodeTime(created), decodeTime(modified)
	return &g, nil
}

// scanGroups reads the groups of rows and, when withMembers, their
// members.
func scanGroups(ctx context.Context, q queryer, rows *sql.Rows, withMembers bool) ([]account.Group, error) {
	var ptrs []*account.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ptrs = append(ptrs, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if withMembers {
		if err := loadMembers(ctx, q, ptrs...); err != nil {
			return nil, err
		}
	}
	out := make([]account.Group, 0, len(ptrs))
	for _, g := range ptrs {
		out = append(out, *g)
	}
	return out, nil
}

// loadMembers fills in the members of groups, each with its Label, in one
// query. A group without members gets an empty, non-nil list.
func loadMembers(ctx context.Context, q queryer, groups ...*account.Group) error {
	if len(groups) == 0 {
		return nil
	}
	byID := make(map[string]*account.Group, len(groups))
	ids := make([]string, 0, len(groups))
	for _, g := range groups {
		g.Members = []account.Member{}
		byID[g.ID] = g
		ids = append(ids, g.ID)
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, `SELECT m.group_id, u.id, u.user_name, u.display_name, u.formatted_name, u.given_name, u.family_name
		FROM group_members m JOIN users u ON u.id = m.user_id
		WHERE m.group_id IN (SELECT value FROM json_each(?)) ORDER BY m.group_id, m.user_id`, string(b))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var gid string
		var u account.User
		if err := rows.Scan(&gid, &u.ID, &u.UserName, &u.DisplayName, &u.Name.Formatted, &u.Name.GivenName, &u.Name.FamilyName); err != nil {
			return err
		}
		g := byID[gid]
		g.Members = append(g.Members, account.Member{Value: u.ID, Display: u.Label()})
	}
	return rows.Err()
}

// Group returns the group with id and its members, or store.ErrNotFound.
func (db *DB) Group(ctx context.Context, id string) (*account.Group, error) {
	var g *account.Group
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		if g, err = scanGroup(tx.QueryRowContext(ctx, "SELECT "+groupColumns+" FROM groups g WHERE g.id = ?", id)); err != nil {
			return err
		}
		return loadMembers(ctx, tx, g)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: group %q: %w", id, err)
	}
	return g, nil
}

// UpdateGroup replaces the group and its members when g.Meta.Version is
// the stored version.
func (db *DB) UpdateGroup(ctx context.Context, g *account.Group) error {
	if err := rowmap.ValidGroup(g); err != nil {
		return fmt.Errorf("sqlite: update group: %w", err)
	}
	now := storedTime(time.Now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE groups SET display_name=?, external_id=?, roles=?, ceiling=?, last_modified=?,
			version=version+1 WHERE id=? AND version=?`, g.DisplayName, g.ExternalID, strings.Join(g.Roles, " "),
			encodeCeiling(g.Ceiling), encodeTime(now), g.ID, g.Meta.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return groupConflict(ctx, tx, g.ID, g.Meta.Version)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE group_id=?", g.ID); err != nil {
			return err
		}
		return addMembers(ctx, tx, g.ID, memberIDs(g.Members))
	})
	if err != nil {
		return fmt.Errorf("sqlite: update group %q: %w", g.ID, err)
	}
	g.Meta.Version++
	g.Meta.LastModified = now
	return nil
}

// groupConflict explains why no group id at version was changed:
// store.ErrNotFound, or store.ErrConflict with the stored version.
func groupConflict(ctx context.Context, tx *sql.Tx, id string, version int64) error {
	var v int64
	if err := tx.QueryRowContext(ctx, "SELECT version FROM groups WHERE id = ?", id).Scan(&v); err != nil {
		return err // ErrNotFound
	}
	return fmt.Errorf("%w: version %d, stored %d", store.ErrConflict, version, v)
}

// ChangeMembers adds and removes members of group id without reading the
// others, when version is 0 or the stored version.
func (db *DB) ChangeMembers(ctx context.Context, id string, version int64, add, remove []string) (account.Meta, error) {
	var meta account.Meta
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		var created, modified int64
		err := tx.QueryRowContext(ctx, `UPDATE groups SET version=version+1, last_modified=?
			WHERE id=? AND (?=0 OR version=?) RETURNING created, last_modified, version`, now, id, version, version).
			Scan(&created, &modified, &meta.Version)
		if err == sql.ErrNoRows {
			return groupConflict(ctx, tx, id, version)
		}
		if err != nil {
			return err
		}
		meta.Created, meta.LastModified = decodeTime(created), decodeTime(modified)
		if err := removeMembers(ctx, tx, id, remove); err != nil {
			return err
		}
		return addMembers(ctx, tx, id, add)
	})
	if err != nil {
		return account.Meta{}, fmt.Errorf("sqlite: change members of group %q: %w", id, err)
	}
	return meta, nil
}

// DeleteGroup removes the group and its memberships.
func (db *DB) DeleteGroup(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM groups WHERE id=?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete group %q: %w", id, err)
	}
	return nil
}

// GroupsOf returns the groups user userID belongs to, by display name,
// without members.
func (db *DB) GroupsOf(ctx context.Context, userID string) ([]account.Group, error) {
	by, err := db.GroupsOfUsers(ctx, []string{userID})
	if err != nil {
		return nil, err
	}
	return by[userID], nil
}

// GroupsOfUsers returns the groups of each of userIDs (GroupsOf of each),
// with one prepared statement whatever their number; a user in no group
// (or no user) has no entry. One statement reads one snapshot, so no
// transaction is needed.
func (db *DB) GroupsOfUsers(ctx context.Context, userIDs []string) (map[string][]account.Group, error) {
	out := map[string][]account.Group{}
	if len(userIDs) == 0 {
		return out, nil
	}
	ids, err := json.Marshal(userIDs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: groups of users: %w", err)
	}
	rows, err := db.stmts.groupsOf.QueryContext(ctx, string(ids))
	if err != nil {
		return nil, fmt.Errorf("sqlite: groups of users: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		g, err := scanGroup(prefixScanner{rows, &user})
		if err != nil {
			return nil, fmt.Errorf("sqlite: groups of users: %w", mapErr(err))
		}
		out[user] = append(out[user], *g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: groups of users: %w", mapErr(err))
	}
	return out, nil
}

// prefixScanner scans a row whose first column goes to first and whose
// others are what the wrapped scanner's caller expects.
type prefixScanner struct {
	rows  *sql.Rows
	first any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}
