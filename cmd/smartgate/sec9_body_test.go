package main

// Issue 9, defect 8: what a token may do is decided from the URL and the
// headers before the body is read.

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// withheldBody yields head and then blocks until released, as a client
// that sends a large body slowly; it counts the bytes taken from it.
type withheldBody struct {
	head    []byte
	off     int
	read    atomic.Int64
	release chan struct{}
	once    sync.Once
}

func newWithheldBody(head string, size int) *withheldBody {
	b := []byte(head)
	for len(b) < size {
		b = append(b, ' ') // JSON whitespace: the body stays valid so far
	}
	return &withheldBody{head: b, release: make(chan struct{})}
}

func (b *withheldBody) Read(p []byte) (int, error) {
	if b.off < len(b.head) {
		n := copy(p, b.head[b.off:])
		b.off += n
		b.read.Add(int64(n))
		return n, nil
	}
	<-b.release
	return 0, errors.New("body withheld")
}

func (b *withheldBody) Close() error {
	b.once.Do(func() { close(b.release) })
	return nil
}

// sendWithheld sends a request whose body is head followed by a body that
// never comes (until the test ends), and returns the answer, which must
// come while the body is withheld.
func (h *harness) sendWithheld(t *testing.T, method, target, token, head, contentType string) *response {
	t.Helper()
	// More than the 256 KiB net/http discards after a handler that did not
	// read the body; less than any body limit.
	body := newWithheldBody(head, 1<<20)
	t.Cleanup(func() { body.Close() })
	// The transport waits for the body writer after a timeout: release it
	// just after the client gives up.
	time.AfterFunc(11*time.Second, func() { body.Close() })
	req, err := http.NewRequest(method, h.baseA+"/fhir"+target, io.NopCloser(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Transport: h.httpc.Transport, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer while the body was withheld (the server waits for it): %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = jsonUnmarshal(raw, &r.json)
	return r
}

// TestSec9D8_RefusedWriteAnsweredBeforeTheBody: a create or update of a
// type the token may not write, a Bundle from a token with no FHIR scope at
// all, a transaction whose first entry is refused, and a POST _search
// without search scope are answered 403 insufficient_scope without waiting
// for the body; so is a conditional write whose condition the token may not
// search.
func TestSec9D8_RefusedWriteAnsweredBeforeTheBody(t *testing.T) {
	h := newHarness(t)
	own := h.patients["Lind"]
	readOnly := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Observation.rs", patient: own}).str("access_token")
	condOnly := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Observation.cu", patient: own}).str("access_token")
	noScope := h.code(codeLaunch{user: "lind", password: userPassword, scope: "openid fhirUser"}).str("access_token")
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"`
	noSearch := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Observation.r", patient: own}).str("access_token")
	for _, c := range []struct {
		name, method, target, token, head string
	}{
		{"post-search", "POST", "/Observation/_search", noSearch, "code=x"},
		{"create", "POST", "/Observation", readOnly, obs},
		{"update", "PUT", "/Observation/d8-x", readOnly, obs},
		{"conditional-update", "PUT", "/Observation?identifier=d8", readOnly, obs},
		{"conditional-update-no-search", "PUT", "/Observation?identifier=d8", condOnly, obs},
		{"bundle-no-scope", "POST", "", noScope, `{"resourceType":"Bundle","type":"batch","entry":[`},
		{"transaction-refused-entry", "POST", "", readOnly, `{"resourceType":"Bundle","type":"transaction","entry":[` +
			`{"request":{"method":"POST","url":"Observation"},"resource":` + obs},
	} {
		ct := "application/fhir+json"
		if strings.HasSuffix(c.target, "_search") {
			ct = "application/x-www-form-urlencoded"
		}
		t.Run(c.name, func(t *testing.T) {
			forbidden(t, h.sendWithheld(t, c.method, c.target, c.token, c.head, ct))
		})
	}
	// A token that may create: the server does read the body (the request
	// is not answered while it is withheld).
	writer := h.code(codeLaunch{user: "doc", password: userPassword, scope: "launch/patient patient/Observation.crus", patient: own}).str("access_token")
	body := newWithheldBody(obs, 1<<20)
	time.AfterFunc(3*time.Second, func() { body.Close() })
	req, _ := http.NewRequest("POST", h.baseA+"/fhir/Observation", io.NopCloser(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+writer)
	c := &http.Client{Transport: h.httpc.Transport, Timeout: 2 * time.Second}
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("allowed create answered %d before its body was sent", resp.StatusCode)
	} else if !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("allowed create: %v", err)
	}
	body.Close()
}
