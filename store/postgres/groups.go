package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/internal/rowmap"
)

var _ account.Directory = (*DB)(nil)

// DeleteUser removes the user; the foreign keys remove their e-mails,
// phone numbers, memberships, consents, sessions, second factor, links of
// federated identities and sign-in codes. The groups they belonged to
// change (version and lastModified move on).
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE groups SET version=version+1, last_modified=$1
			WHERE id IN (SELECT group_id FROM group_members WHERE user_id=$2)`, now, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM users WHERE id=$1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: delete user %q: %w", id, err)
	}
	return nil
}

// encodeCeiling is the stored ceiling: NULL for none (nil), the empty string for an
// empty one.
func encodeCeiling(c []string) *string {
	if c == nil {
		return nil
	}
	s := strings.Join(c, " ")
	return &s
}

func decodeCeiling(c *string) []string {
	if c == nil {
		return nil
	}
	return append([]string{}, strings.Fields(*c)...)
}

// CreateGroup stores g with its members, assigning g.ID (when empty) and
// g.Meta.
func (db *DB) CreateGroup(ctx context.Context, g *account.Group) error {
	if err := rowmap.ValidGroup(g); err != nil {
		return fmt.Errorf("postgres: create group: %w", err)
	}
	if g.ID == "" {
		g.ID = account.NewID()
	}
	now := storedTime(time.Now())
	meta := account.Meta{Created: now, LastModified: now, Version: 1}
	err := db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO groups (id, display_name, external_id, roles, ceiling, created, last_modified, version)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, g.ID, g.DisplayName, g.ExternalID, strings.Join(g.Roles, " "), encodeCeiling(g.Ceiling),
			encodeTime(meta.Created), encodeTime(meta.LastModified), meta.Version)
		if err != nil {
			return err
		}
		return addMembers(ctx, tx, g.ID, memberIDs(g.Members))
	})
	if err != nil {
		return fmt.Errorf("postgres: create group %q: %w", g.DisplayName, err)
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
func addMembers(ctx context.Context, tx pgx.Tx, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var unknown string
	err := tx.QueryRow(ctx, `SELECT j FROM unnest($1::text[]) j
		WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = j) LIMIT 1`, ids).Scan(&unknown)
	switch {
	case err == nil:
		return fmt.Errorf("%w: member %q is no user", store.ErrNotFound, unknown)
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO group_members (group_id, user_id)
		SELECT $1, j FROM unnest($2::text[]) j ON CONFLICT DO NOTHING`, id, ids)
	return err
}

// removeMembers ends the memberships of ids in group id (non-members are
// ignored).
func removeMembers(ctx context.Context, tx pgx.Tx, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `DELETE FROM group_members WHERE group_id = $1 AND user_id = ANY($2::text[])`, id, ids)
	return err
}

const groupColumns = `g.id, g.display_name, g.external_id, g.roles, g.ceiling, g.created, g.last_modified, g.version`

func scanGroup(s scanner) (*account.Group, error) {
	var g account.Group
	var roles string
	var ceiling *string
	var created, modified int64
	if err := s.Scan(&g.ID, &g.DisplayName, &g.ExternalID, &roles, &ceiling, &created, &modified, &g.Meta.Version); err != nil {
		return nil, err
	}
	g.Roles, g.Ceiling = rowmap.SplitSpace(roles), decodeCeiling(ceiling)
	g.Meta.Created, g.Meta.LastModified = decodeTime(created), decodeTime(modified)
	return &g, nil
}

// scanGroups reads the groups of rows and, when withMembers, their
// members (in tx, whose snapshot rows was read in).
func scanGroups(ctx context.Context, tx pgx.Tx, rows pgx.Rows, withMembers bool) ([]account.Group, error) {
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
		if err := loadMembers(ctx, tx, ptrs...); err != nil {
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
func loadMembers(ctx context.Context, tx pgx.Tx, groups ...*account.Group) error {
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
	rows, err := tx.Query(ctx, `SELECT m.group_id, u.id, u.user_name, u.display_name, u.formatted_name, u.given_name, u.family_name
		FROM group_members m JOIN users u ON u.id = m.user_id
		WHERE m.group_id = ANY($1::text[]) ORDER BY m.group_id, m.user_id COLLATE "C"`, ids)
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
	err := db.read(ctx, func(tx pgx.Tx) error {
		var err error
		if g, err = scanGroup(tx.QueryRow(ctx, "SELECT "+groupColumns+" FROM groups g WHERE g.id = $1", id)); err != nil {
			return err
		}
		return loadMembers(ctx, tx, g)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: group %q: %w", id, err)
	}
	return g, nil
}

// UpdateGroup replaces the group and its members when g.Meta.Version is
// the stored version.
func (db *DB) UpdateGroup(ctx context.Context, g *account.Group) error {
	if err := rowmap.ValidGroup(g); err != nil {
		return fmt.Errorf("postgres: update group: %w", err)
	}
	now := storedTime(time.Now())
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE groups SET display_name=$1, external_id=$2, roles=$3, ceiling=$4, last_modified=$5,
			version=version+1 WHERE id=$6 AND version=$7`, g.DisplayName, g.ExternalID, strings.Join(g.Roles, " "),
			encodeCeiling(g.Ceiling), encodeTime(now), g.ID, g.Meta.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return groupConflict(ctx, tx, g.ID, g.Meta.Version)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM group_members WHERE group_id=$1", g.ID); err != nil {
			return err
		}
		return addMembers(ctx, tx, g.ID, memberIDs(g.Members))
	})
	if err != nil {
		return fmt.Errorf("postgres: update group %q: %w", g.ID, err)
	}
	g.Meta.Version++
	g.Meta.LastModified = now
	return nil
}

// groupConflict explains why no group id at version was changed:
// store.ErrNotFound, or store.ErrConflict with the stored version.
func groupConflict(ctx context.Context, tx pgx.Tx, id string, version int64) error {
	var v int64
	if err := tx.QueryRow(ctx, "SELECT version FROM groups WHERE id = $1", id).Scan(&v); err != nil {
		return err // ErrNotFound
	}
	return fmt.Errorf("%w: version %d, stored %d", store.ErrConflict, version, v)
}

// ChangeMembers adds and removes members of group id without reading the
// others, when version is 0 or the stored version.
func (db *DB) ChangeMembers(ctx context.Context, id string, version int64, add, remove []string) (account.Meta, error) {
	var meta account.Meta
	now := encodeTime(time.Now())
	err := db.write(ctx, func(tx pgx.Tx) error {
		var created, modified int64
		err := tx.QueryRow(ctx, `UPDATE groups SET version=version+1, last_modified=$1
			WHERE id=$2 AND ($3::bigint=0 OR version=$3) RETURNING created, last_modified, version`, now, id, version).
			Scan(&created, &modified, &meta.Version)
		if errors.Is(err, pgx.ErrNoRows) {
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
		return account.Meta{}, fmt.Errorf("postgres: change members of group %q: %w", id, err)
	}
	return meta, nil
}

// DeleteGroup removes the group and its memberships.
func (db *DB) DeleteGroup(ctx context.Context, id string) error {
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM groups WHERE id=$1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: delete group %q: %w", id, err)
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

// sqlGroupsOf reads the groups of the users whose ids are the array $1:
// each group row after its member's id, by display name (ASCII
// case-insensitively, store/sqlite's NOCASE), then id.
const sqlGroupsOf = `SELECT m.user_id, ` + groupColumns + ` FROM group_members m JOIN groups g ON g.id = m.group_id
	WHERE m.user_id = ANY($1::text[]) ORDER BY m.user_id, lower(g.display_name COLLATE "C"), g.id COLLATE "C"`

// GroupsOfUsers returns the groups of each of userIDs (GroupsOf of each),
// with one statement whatever their number; a user in no group (or no
// user) has no entry. One statement reads one snapshot, so no transaction
// is needed.
func (db *DB) GroupsOfUsers(ctx context.Context, userIDs []string) (map[string][]account.Group, error) {
	out := map[string][]account.Group{}
	if len(userIDs) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, sqlGroupsOf, userIDs)
	if err != nil {
		return nil, fmt.Errorf("postgres: groups of users: %w", mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var user string
		g, err := scanGroup(prefixScanner{rows, &user})
		if err != nil {
			return nil, fmt.Errorf("postgres: groups of users: %w", mapErr(err))
		}
		out[user] = append(out[user], *g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: groups of users: %w", mapErr(err))
	}
	return out, nil
}

// prefixScanner scans a row whose first column goes to first and whose
// others are what the wrapped scanner's caller expects.
type prefixScanner struct {
	rows  pgx.Rows
	first any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}
