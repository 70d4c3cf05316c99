package account_test

import "testing"

// BenchmarkSignInCodeRedeem: one redemption of a live code on a real
// SQLite file: the throttle, the code taken by its SHA-256 (one DELETE …
// RETURNING) and the account read. No argon2id is involved. Each code is
// issued outside the timing. Its floor is bench/micro's
// BenchmarkFloorTakeCode (docs/benchmarks.md, "Federated log-in").
func BenchmarkSignInCodeRedeem(b *testing.B) {
	e := newCodeEnv(b, 5)
	u := e.user("bench")
	for b.Loop() {
		b.StopTimer()
		code := e.issue(u.ID)
		b.StartTimer()
		got, err := e.codes.Redeem(e.ctx, code, "192.0.2.1")
		if err != nil || got.ID != u.ID {
			b.Fatalf("Redeem = %v, %v; want %s", got, err, u.ID)
		}
	}
}
