package link_test

import (
	"fmt"
	"testing"

	"github.com/smartgate/smartgate/idp"
)

// The floors of these benchmarks are bench/micro's BenchmarkFloorLinkedLogin
// and BenchmarkFloorProvision (the same SQL work on a bare database/sql
// file; docs/benchmarks.md, "Federated log-in").

// BenchmarkResolveLinked: the log-in of an identity linked already, on a
// real SQLite file: the link and its account read, the log-in time
// written (TouchLink).
func BenchmarkResolveLinked(b *testing.B) {
	e := newEnv(b, nil)
	p := idp.Provider{ID: "op", Provisioning: idp.ProvisionAuto}
	id := idp.Identity{Issuer: issuer, Subject: "bench-linked", Email: "linked@example.org", EmailVerified: true}
	if out, err := e.linker.Resolve(e.ctx, p, id); err != nil || !out.Provisioned {
		b.Fatalf("first Resolve = %+v, %v; want provisioned", out, err)
	}
	for b.Loop() {
		out, err := e.linker.Resolve(e.ctx, p, id)
		if err != nil || out.User == nil || out.Provisioned {
			b.Fatalf("Resolve = %+v, %v; want the linked account", out, err)
		}
	}
}

// BenchmarkResolveProvision: a first log-in with provisioning auto: a new
// identity each time, so each is an account made through account.People
// (no password: no argon2id) and a link made (with its audit record, kept
// in memory here).
func BenchmarkResolveProvision(b *testing.B) {
	e := newEnv(b, nil)
	p := idp.Provider{ID: "op", Provisioning: idp.ProvisionAuto}
	n := 0
	for b.Loop() {
		n++
		id := idp.Identity{Issuer: issuer, Subject: fmt.Sprintf("bench-%d", n),
			Email: fmt.Sprintf("p%d@example.org", n), EmailVerified: true, Name: "Bench Person"}
		out, err := e.linker.Resolve(e.ctx, p, id)
		if err != nil || !out.Provisioned {
			b.Fatalf("Resolve = %+v, %v; want provisioned", out, err)
		}
	}
}
