package showonce

import (
	"testing"
	"time"
)

func TestShowOnce(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := New(func() time.Time { return now })
	h := s.Put("client-1", "s3cret", "alice")
	if len(h) < 40 {
		t.Fatalf("handle %q is too short to be unguessable", h)
	}
	for _, tc := range []struct{ h, subject, viewer string }{
		{h, "client-1", "bob"}, {h, "client-2", "alice"}, {"", "client-1", "alice"}, {"other", "client-1", "alice"},
	} {
		if got := s.Take(tc.h, tc.subject, tc.viewer); got != "" {
			t.Fatalf("Take(%q, %q, %q) = %q, want nothing", tc.h, tc.subject, tc.viewer, got)
		}
	}
	if got := s.Take(h, "client-1", "alice"); got != "s3cret" {
		t.Fatalf("Take by its viewer = %q, want the secret", got)
	}
	if got := s.Take(h, "client-1", "alice"); got != "" {
		t.Fatalf("second Take = %q, want nothing (single use)", got)
	}
	h = s.Put("client-1", "late", "alice")
	now = now.Add(TTL + time.Second)
	if got := s.Take(h, "client-1", "alice"); got != "" {
		t.Fatalf("Take after TTL = %q, want nothing", got)
	}
	s.Put("x", "y", "z") // prunes the expired entry
	if len(s.m) != 1 {
		t.Fatalf("%d entries kept, want 1 (expired ones dropped)", len(s.m))
	}
}
