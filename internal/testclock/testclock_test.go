package testclock

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	start := time.Unix(1e9, 0)
	c := New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got := c.Now(); !got.Equal(start.Add(90 * time.Second)) {
		t.Fatalf("after Advance: %v", got)
	}

	z := New(time.Time{})
	before := time.Now()
	if got := z.Now(); got.Before(before) {
		t.Fatalf("zero clock should follow real time, got %v < %v", got, before)
	}
	z.Advance(time.Hour)
	if got := z.Now(); got.Before(before.Add(time.Hour)) {
		t.Fatalf("zero clock after Advance(1h) = %v", got)
	}
}
