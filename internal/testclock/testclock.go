// Package testclock is a clock for tests that moves only when told to.
// A Clock made from the zero time follows the real clock until its first
// Advance, so a test can stop time only where it needs to.
package testclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use. Its Now method fits every Now func()
// time.Time setting of smartgate's packages.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a clock that reads t (or real time while t is zero).
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

// Advance moves the clock forward by d (from real time if it was zero).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = time.Now()
	}
	c.t = c.t.Add(d)
}
