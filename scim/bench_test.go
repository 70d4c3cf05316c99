package scim_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store/sqlite"
)

// BenchmarkFilterUserName is bench/'s scimfilter scenario in process: GET
// /scim/v2/Users?filter=userName eq "…" through the real handler over HTTP
// on a real SQLite file, each person in a group. The store holds
// SCIM_BENCH_PEOPLE people (default 10,000; bench/ uses 100,000). Run with
// -cpu 8 -cpuprofile to see where a request's time goes.
func BenchmarkFilterUserName(b *testing.B) {
	n := 10000
	if s := os.Getenv("SCIM_BENCH_PEOPLE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	e := newEnvOn(b, sqlite.Options{Synchronous: "NORMAL"})
	ctx := context.Background()
	g := &account.Group{DisplayName: "nurses"}
	if err := e.people.CreateGroup(ctx, g); err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := range n {
		u := &account.User{UserName: fmt.Sprintf("person-%d@bench.example", i), Active: true,
			Emails: []account.Email{{Value: fmt.Sprintf("person-%d@bench.example", i), Type: "work", Primary: true}}}
		if err := e.people.Create(ctx, u, ""); err != nil {
			b.Fatal(err)
		}
		if i%100 == 0 {
			ids = append(ids, u.ID)
		}
	}
	if _, err := e.people.ChangeMembers(ctx, g.ID, 0, ids, nil); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) % int64(n)
			q := url.Values{"filter": {fmt.Sprintf(`userName eq "person-%d@bench.example"`, i)}}
			req, _ := http.NewRequest("GET", e.srv.URL+"/scim/v2/Users?"+q.Encode(), nil)
			req.Header.Set("Authorization", "Bearer client-token")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || len(body) < 100 {
				b.Errorf("status %d: %s", res.StatusCode, body)
				return
			}
		}
	})
}
