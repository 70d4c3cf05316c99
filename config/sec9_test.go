package config

import (
	"io"
	"testing"
	"time"
)

// TestSec9D6_SessionSettings: the log-in session's lifetime and idle
// timeout are settings (flag, environment, file), with defaults 12h and
// 30m; an idle timeout of 0 turns the idle limit off, a lifetime of 0 is
// refused.
func TestSec9D6_SessionSettings(t *testing.T) {
	cfg, _, err := Load("serve", nil, env(nil), io.Discard)
	if err != nil || cfg.SessionTTL != 12*time.Hour || cfg.SessionIdle != 30*time.Minute {
		t.Fatalf("defaults: %v %v %v", cfg.SessionTTL, cfg.SessionIdle, err)
	}
	cfg, _, err = Load("serve", []string{"--session-ttl", "2h", "--session-idle-timeout", "0"}, env(nil), io.Discard)
	if err != nil || cfg.SessionTTL != 2*time.Hour || cfg.SessionIdle != 0 {
		t.Fatalf("flags: %v %v %v", cfg.SessionTTL, cfg.SessionIdle, err)
	}
	cfg, _, err = Load("serve", nil, env(map[string]string{"SMARTGATE_SESSION_IDLE_TIMEOUT": "5m"}), io.Discard)
	if err != nil || cfg.SessionIdle != 5*time.Minute {
		t.Fatalf("env: %v %v", cfg.SessionIdle, err)
	}
	file := writeFile(t, "session_ttl: 8h\nsession_idle_timeout: 15m\n")
	cfg, _, err = Load("serve", []string{"--config", file}, env(nil), io.Discard)
	if err != nil || cfg.SessionTTL != 8*time.Hour || cfg.SessionIdle != 15*time.Minute {
		t.Fatalf("file: %v %v %v", cfg.SessionTTL, cfg.SessionIdle, err)
	}
	for _, bad := range [][]string{{"--session-ttl", "0"}, {"--session-idle-timeout", "-1m"}, {"--session-ttl", "soon"}} {
		if _, _, err := Load("serve", bad, env(nil), io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
