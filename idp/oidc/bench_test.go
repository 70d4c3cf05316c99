package oidc

import (
	"context"
	"testing"
)

// BenchmarkHandleCallback: a whole callback against the local provider
// (code exchange over HTTP, id_token verification with cached keys,
// claim mapping); the authorization step is outside the timing.
func BenchmarkHandleCallback(b *testing.B) {
	p := newProvider(b, newClock())
	conn := open(b, p.config())
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		st, q := authorize(b, conn)
		b.StartTimer()
		if _, err := conn.HandleCallback(ctx, st, q); err != nil {
			b.Fatal(err)
		}
	}
}
