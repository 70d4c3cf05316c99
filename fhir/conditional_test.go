package fhir_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/smartgate/smartgate/fhir"
)

// concurrentStatuses sends n requests at once and returns their statuses.
func concurrentStatuses(t *testing.T, n int, newReq func() *http.Request) map[int]int {
	t.Helper()
	start := make(chan struct{})
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := newReq()
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			got[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// N concurrent conditional creates with the same If-None-Exist create one
// resource (201) and find it (200) otherwise; N concurrent conditional
// updates with the same criteria create it once and then update it, N
// versions in all. The check and the write are one serialisable store
// transaction (fhir.Store.TransactResources).
func TestConcurrentConditionalWrites(t *testing.T) {
	const n = 12
	c := newServer(t, fhir.Config{})
	body := func(identifier string) []byte {
		p := patient("Concurrent")
		p["identifier"] = []any{map[string]any{"system": "urn:race", "value": identifier}}
		b, _ := json.Marshal(p)
		return b
	}
	t.Run("create", func(t *testing.T) {
		got := concurrentStatuses(t, n, func() *http.Request {
			req, _ := http.NewRequest("POST", c.base+"/Patient", bytes.NewReader(body("create")))
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("If-None-Exist", "identifier=urn:race|create")
			return req
		})
		if got[http.StatusCreated] != 1 || got[http.StatusOK] != n-1 {
			t.Fatalf("statuses %v, want one 201 and %d 200", got, n-1)
		}
		r := c.do("GET", "/Patient?identifier=urn:race|create", nil).want(t, http.StatusOK)
		if r.body["total"] != float64(1) {
			t.Fatalf("%v resources stored, want 1", r.body["total"])
		}
	})
	t.Run("update", func(t *testing.T) {
		got := concurrentStatuses(t, n, func() *http.Request {
			req, _ := http.NewRequest("PUT", c.base+"/Patient?identifier=urn:race|update", bytes.NewReader(body("update")))
			req.Header.Set("Content-Type", "application/fhir+json")
			return req
		})
		if got[http.StatusCreated] != 1 || got[http.StatusOK] != n-1 {
			t.Fatalf("statuses %v, want one 201 and %d 200", got, n-1)
		}
		r := c.do("GET", "/Patient?identifier=urn:race|update", nil).want(t, http.StatusOK)
		list, _ := r.body["entry"].([]any)
		if r.body["total"] != float64(1) || len(list) != 1 {
			t.Fatalf("%v resources stored, want 1", r.body["total"])
		}
		if v := str(list[0], "resource", "meta", "versionId"); v != strconv.Itoa(n) {
			t.Fatalf("version %s after %d conditional updates, want %d", v, n, n)
		}
	})
}
