package launch

import (
	"context"
	"time"

	"github.com/smartgate/smartgate/authz"
)

// Record is one issued EHR launch as stored. The launch value itself is
// never stored, only its SHA-256 (Hash).
type Record struct {
	Hash      []byte
	ClientID  string
	Issuer    string // the FHIR base URL given to the app as iss
	Context   authz.LaunchContext
	CreatedBy string // user id of the person who launched
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until a code is issued for the launch
}

// Store keeps issued launches (store/sqlite implements it). Methods return
// errors wrapping store.ErrNotFound / store.ErrConflict as documented.
type Store interface {
	// CreateLaunch stores a new launch; store.ErrConflict if the hash exists.
	CreateLaunch(ctx context.Context, r *Record) error
	// Launch returns the launch with the given hash, or store.ErrNotFound.
	Launch(ctx context.Context, hash []byte) (*Record, error)
	// UseLaunch marks the launch used at now, atomically, if it exists, is
	// bound to clientID, is unused and expires after now; otherwise it
	// returns store.ErrNotFound and changes nothing.
	UseLaunch(ctx context.Context, hash []byte, clientID string, now time.Time) error
	// DeleteExpiredLaunches deletes launches that expired before before and
	// returns how many.
	DeleteExpiredLaunches(ctx context.Context, before time.Time) (int64, error)
}
