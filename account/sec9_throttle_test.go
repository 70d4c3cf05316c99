package account

// Issue 9, defect 5, at the package level: parallel Authenticate calls
// check no more passwords than the throttle's limits.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// countingUsers counts lookups: Authenticate looks the user up once per
// password it is about to check.
type countingUsers struct {
	mapUsers
	mu sync.Mutex
	n  int
}

func (c *countingUsers) UserByName(ctx context.Context, n string) (*User, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.mapUsers.UserByName(ctx, n)
}

// TestSec9D5_ParallelAuthenticateChecksAtMostTheLimit: 100 wrong passwords
// for one account at once check exactly 10; for 100 accounts from one
// address, exactly 30. Then the right password is refused.
func TestSec9D5_ParallelAuthenticateChecksAtMostTheLimit(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	hash, _ := h.Hash(ctx, "right password")
	for _, tc := range []struct {
		name string
		user func(i int) string
		addr func(i int) string
		want int
	}{
		{"one account", func(int) string { return "ann" }, func(i int) string { return fmt.Sprintf("10.0.%d.1", i) }, 10},
		{"one address", func(i int) string { return fmt.Sprintf("user%d", i) }, func(int) string { return "10.9.9.9" }, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := &countingUsers{mapUsers: mapUsers{"ann": {UserName: "ann", Active: true, PasswordHash: hash}}}
			a := NewAuthenticator(users, h, NewThrottle(ThrottleConfig{}))
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a.Authenticate(ctx, tc.user(i), "wrong", tc.addr(i))
				}()
			}
			wg.Wait()
			if users.n != tc.want {
				t.Fatalf("%d passwords checked, want %d", users.n, tc.want)
			}
			if _, err := a.Authenticate(ctx, "ann", "right password", tc.addr(0)); !errors.Is(err, ErrThrottled) {
				t.Fatalf("right password after the burst: %v, want ErrThrottled", err)
			}
		})
	}
}
