package sqlite

import (
	"context"
	"fmt"

	"github.com/smartgate/smartgate/account"
)

// SearchUsers returns one page of the users matching q and their number.
func (db *DB) SearchUsers(ctx context.Context, q account.Query) ([]account.User, int, error) {
	return nil, 0, fmt.Errorf("sqlite: search users: not yet")
}

// SearchGroups returns one page of the groups matching q and their number.
func (db *DB) SearchGroups(ctx context.Context, q account.Query, withMembers bool) ([]account.Group, int, error) {
	return nil, 0, fmt.Errorf("sqlite: search groups: not yet")
}

