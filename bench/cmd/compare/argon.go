package main

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/smartgate/smartgate/bench/loadgen"
)

// Argon2id parameters of smartgate's password hashes (OWASP minimum).
const (
	argonTime    = 2
	argonMemKiB  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// argon2Batches times batches of n argon2id derivations (one verify each) and
// returns each batch's median in ms.
func argon2Batches(batches, n int) []float64 {
	salt := []byte("0123456789abcdef")
	pw := []byte("correct horse battery staple")
	out := make([]float64, 0, batches)
	for range batches {
		ts := make([]float64, 0, n)
		for range n {
			t0 := time.Now()
			argon2.IDKey(pw, salt, argonTime, argonMemKiB, argonThreads, argonKeyLen)
			ts = append(ts, float64(time.Since(t0))/float64(time.Millisecond))
		}
		slices.Sort(ts)
		out = append(out, loadgen.Median(ts))
	}
	return out
}

// argon2Throughput is the argon2id-bound ceiling as it stands right now:
// one goroutine per core derives keys back to back for d, and the result is
// completed derivations per second. Measured next to each smartgate OWin
// run, it sees the same machine (other tenants included) as that run, the
// way each floor run sits next to its smartgate run.
func argon2Throughput(ctx context.Context, d time.Duration) float64 {
	salt := []byte("0123456789abcdef")
	pw := []byte("correct horse battery staple")
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range cores() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d && ctx.Err() == nil {
				argon2.IDKey(pw, salt, argonTime, argonMemKiB, argonThreads, argonKeyLen)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}
