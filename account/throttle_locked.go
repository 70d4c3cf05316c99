package account

import (
	"context"
	"time"
)

// LockedUntil returns the end of the running password lockout of the
// account userName (normalised like Authenticate does), or the zero time
// when it is not locked out, as this process sees it (its own lockouts and
// those Restore loaded). For the people pages' "locked" column.
func (t *Throttle) LockedUntil(_ context.Context, userName string) (time.Time, error) {
	name, err := NormalizeUserName(userName)
	if err != nil {
		name = userName
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[accountKey(name)]; e != nil && t.cfg.Now().Before(e.lockedUntil) {
		return e.lockedUntil, nil
	}
	return time.Time{}, nil
}
