package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
	"github.com/smartgate/smartgate/store/postgres"
	"github.com/smartgate/smartgate/store/postgres/pgtest"
)

// accountsAPI is what the conformance tests of the records hung on
// accounts (second factors, links, sign-in codes) need of the accounts
// domain, which is ported to this backend on its own (issue 16).
type accountsAPI interface {
	CreateUser(ctx context.Context, u *account.User) error
	User(ctx context.Context, id string) (*account.User, error)
	UpdateUser(ctx context.Context, u *account.User) error
	DeactivateUser(ctx context.Context, id string) error
	DeleteUser(ctx context.Context, id string) error
}

// withAccounts is a *postgres.DB with accountsAPI: the DB's own methods
// once it has them (then this file can go and openWithAccounts become
// open), else accountsStandIn.
type withAccounts struct {
	*postgres.DB
	acc accountsAPI
}

func (w withAccounts) CreateUser(ctx context.Context, u *account.User) error {
	return w.acc.CreateUser(ctx, u)
}
func (w withAccounts) User(ctx context.Context, id string) (*account.User, error) {
	return w.acc.User(ctx, id)
}
func (w withAccounts) UpdateUser(ctx context.Context, u *account.User) error {
	return w.acc.UpdateUser(ctx, u)
}
func (w withAccounts) DeactivateUser(ctx context.Context, id string) error {
	return w.acc.DeactivateUser(ctx, id)
}
func (w withAccounts) DeleteUser(ctx context.Context, id string) error {
	return w.acc.DeleteUser(ctx, id)
}

// openWithAccounts is open with accountsAPI.
func openWithAccounts(t *testing.T) withAccounts {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if a, ok := any(db).(accountsAPI); ok {
		return withAccounts{DB: db, acc: a}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return withAccounts{DB: db, acc: accountsStandIn{pool}}
}

// accountsStandIn keeps the few columns of users that the tests read, and
// does what store/sqlite's users.go does to sign-in codes when an account
// turns inactive (the rest of the account is not kept).
type accountsStandIn struct{ pool *pgxpool.Pool }

func (s accountsStandIn) CreateUser(ctx context.Context, u *account.User) error {
	if u.ID == "" {
		u.ID = account.NewID()
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := s.pool.Exec(ctx, `INSERT INTO users (id, user_name, active, created, last_modified, version) VALUES ($1,$2,$3,$4,$4,1)`,
		u.ID, u.UserName, flag(u.Active), now.UnixMicro()); err != nil {
		return fmt.Errorf("stand-in: create user: %w", err)
	}
	u.Meta = account.Meta{Created: now, LastModified: now, Version: 1}
	return nil
}

func (s accountsStandIn) User(ctx context.Context, id string) (*account.User, error) {
	u := account.User{ID: id}
	var active int64
	if err := s.pool.QueryRow(ctx, `SELECT user_name, active, version FROM users WHERE id = $1`, id).Scan(&u.UserName, &active, &u.Meta.Version); err != nil {
		return nil, fmt.Errorf("stand-in: user: %w", store.ErrNotFound)
	}
	u.Active = active != 0
	return &u, nil
}

func (s accountsStandIn) UpdateUser(ctx context.Context, u *account.User) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET active = $1, version = version + 1 WHERE id = $2 AND version = $3`, flag(u.Active), u.ID, u.Meta.Version)
	if err != nil || tag.RowsAffected() == 0 {
		return fmt.Errorf("stand-in: update user: %v: %w", err, store.ErrConflict)
	}
	u.Meta.Version++
	if !u.Active {
		_, err = s.pool.Exec(ctx, `DELETE FROM signin_codes WHERE user_id = $1`, u.ID)
	}
	return err
}

func (s accountsStandIn) DeactivateUser(ctx context.Context, id string) error {
	u, err := s.User(ctx, id)
	if err != nil {
		return err
	}
	u.Active = false
	return s.UpdateUser(ctx, u)
}

func (s accountsStandIn) DeleteUser(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	return err
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
