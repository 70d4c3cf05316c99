package config

import (
	"io"
	"testing"
	"time"
)

// TestSessionIdleLimit: --session-idle-timeout 0 (no idle limit) becomes a
// negative limit; any other value is kept.
func TestSessionIdleLimit(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want time.Duration
	}{{"0", -1}, {"5m", 5 * time.Minute}} {
		cfg, _, err := Load("serve", []string{"--session-idle-timeout", tc.arg}, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.SessionIdleLimit(); got != tc.want {
			t.Errorf("--session-idle-timeout %s: SessionIdleLimit = %v, want %v", tc.arg, got, tc.want)
		}
	}
}
