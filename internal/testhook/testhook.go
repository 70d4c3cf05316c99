// Package testhook lets a test put a competing action at an exact point of
// the code under test (between a read and a write, say), so that a race is
// reproduced deterministically instead of by chance.
package testhook

import (
	"context"
	"sync/atomic"

	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/store/sqlite"
)

// Once holds at most one armed function; Fire runs it once. The zero value
// is ready to use and safe for concurrent use.
type Once struct {
	f atomic.Pointer[func()]
}

// Arm sets f to run at the next Fire.
func (o *Once) Arm(f func()) { o.f.Store(&f) }

// Fire runs the armed function, if any, and disarms it first (so that
// what it calls may reach Fire again without recursion).
func (o *Once) Fire() {
	if f := o.f.Swap(nil); f != nil {
		(*f)()
	}
}

// Fired reports whether nothing is armed (an armed function has run).
func (o *Once) Fired() bool { return o.f.Load() == nil }

// AfterGetClient is the real SQLite store whose GetClient fires Once after
// it has read the row: an armed competing write lands between a caller's
// read of a client and its write.
type AfterGetClient struct {
	*sqlite.DB
	Once
}

// GetClient reads the client, then fires.
func (s *AfterGetClient) GetClient(ctx context.Context, id string) (*authz.Client, error) {
	c, err := s.DB.GetClient(ctx, id)
	s.Fire()
	return c, err
}
