// Package store holds the storage contract shared by every backend: the
// sentinel errors that backends translate driver errors into. Interfaces that
// describe what a package needs from storage are declared by that package
// (authz.Store, fhir.Store, scim.Store, …); implementations live in
// store/<backend>.
package store

import "errors"

var (
	// ErrNotFound is returned when the requested record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned when a write collides with an existing record
	// (unique key) or a concurrent change (version mismatch).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable is returned when the backend cannot take the write
	// right now (disk full, I/O error, database locked for too long). HTTP
	// layers answer 503; the database is left consistent.
	ErrUnavailable = errors.New("store: unavailable")
)
