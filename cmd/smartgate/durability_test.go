package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smartgate/smartgate/store/sqlite"
)

const testAdminPassword = "durability test admin password"

func adminEnv() []string { return []string{"SMARTGATE_ADMIN_PASSWORD=" + testAdminPassword} }

func owinToken(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{
		"grant_type": {"password"}, "username": {"admin"}, "password": {testAdminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("OWin token: %d %v %+v", resp.StatusCode, err, body)
	}
	return body.AccessToken
}

func fhirDo(t *testing.T, c *http.Client, method, u, token string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestCrashLosesNoAcknowledgedWrite kills smartgate with SIGKILL in the
// middle of a stream of FHIR creates; after a restart every create that was
// acknowledged (201) is there, and the database passes integrity_check.
func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	args := []string{"--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", data, "--log-level", "warn"}
	p := start(t, dir, adminEnv(), args...)
	base := "http://" + p.HTTPAddr
	token := owinToken(t, base)

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Crash%d","given":["W%d"]}]}`, i, w)
				resp, b := fhirDo(t, client, "POST", base+"/fhir/Patient", token, []byte(body))
				if resp == nil {
					return // the server is gone
				}
				if resp.StatusCode != http.StatusCreated {
					continue
				}
				var r struct{ ID string }
				if json.Unmarshal(b, &r) == nil && r.ID != "" {
					mu.Lock()
					acked = append(acked, r.ID)
					mu.Unlock()
				}
			}
		}()
	}
	// Kill once a good number of writes have been acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 150 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 60s; stderr:\n%s", n, p.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	close(stop)
	wg.Wait()
	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()

	p2 := start(t, dir, adminEnv(), args...)
	base2 := "http://" + p2.HTTPAddr
	token2 := owinToken(t, base2)
	for _, id := range ids {
		resp, b := fhirDo(t, client, "GET", base2+"/fhir/Patient/"+id, token2, nil)
		if resp == nil || resp.StatusCode != 200 {
			t.Fatalf("acknowledged Patient/%s lost after SIGKILL: %v %s", id, resp, b)
		}
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	if code := p2.wait(t); code != 0 {
		t.Fatalf("restart exited %d", code)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(data, "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(ids))
}

// inFlight reads smartgate_http_requests_in_flight from /metrics.
func inFlight(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "smartgate_http_requests_in_flight "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("in-flight gauge %q: %v", v, err)
			}
			return int(f)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading /metrics: %v", err)
	}
	t.Fatal("no in-flight gauge in /metrics")
	return 0
}

// TestShutdownLetsInFlightRequestFinish starts a FHIR update whose body
// arrives slowly, sends SIGTERM while it is in flight, checks that new
// connections are refused, then finishes the body: the update completes
// with 200 and the process exits 0.
func TestShutdownLetsInFlightRequestFinish(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir, adminEnv(), "--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", filepath.Join(dir, "data"))
	base := "http://" + p.HTTPAddr
	token := owinToken(t, base)
	resp, b := fhirDo(t, http.DefaultClient, "PUT", base+"/fhir/Patient/shutdown-1", token,
		[]byte(`{"resourceType":"Patient","id":"shutdown-1","name":[{"family":"Before"}]}`))
	if resp == nil || (resp.StatusCode != 201 && resp.StatusCode != 200) {
		t.Fatalf("setup PUT: %v %s", resp, b)
	}

	body := []byte(`{"resourceType":"Patient","id":"shutdown-1","name":[{"family":"During"}]}`)
	conn, err := net.Dial("tcp", p.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /fhir/Patient/shutdown-1 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n",
		p.HTTPAddr, token, len(body))
	conn.Write(body[:10])
	// The PUT is in flight once the gauge counts it besides the /metrics
	// request itself.
	deadline := time.Now().Add(10 * time.Second)
	for inFlight(t, base) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never showed as in flight")
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Shutdown has begun once new connections are refused.
	for {
		c, err := net.DialTimeout("tcp", p.HTTPAddr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections after SIGTERM")
		}
	}
	if _, err := conn.Write(body[10:]); err != nil {
		t.Fatalf("finishing the body: %v", err)
	}
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the response of the in-flight request: %v", err)
	}
	rb, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("in-flight PUT = %d %s", r.StatusCode, rb)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
}

// TestFHIRImportAndKeysRotateCommands runs `smartgate fhir import` on a
// Synthea bundle and `smartgate keys rotate`, then checks with the server:
// the patient is searchable, and the JWKS holds the new and the old keys.
func TestFHIRImportAndKeysRotateCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	bundle := filepath.Join("..", "..", "fhir", "demo", "Sina_Yundt_9907f1bc-0884-4be2-b3d2-57602e4aaf42.json")
	out, err := exec.Command(binary, "fhir", "import", "--data", data, bundle).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("imported")) {
		t.Fatalf("fhir import: %v\n%s", err, out)
	}
	args := []string{"--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", data}
	p := start(t, dir, adminEnv(), args...)
	base := "http://" + p.HTTPAddr
	token := owinToken(t, base)
	resp, b := fhirDo(t, http.DefaultClient, "GET", base+"/fhir/Patient?family=Yundt", token, nil)
	if resp == nil || resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"family":"Yundt`)) {
		t.Fatalf("imported patient not found: %v %s", resp, b)
	}
	kids := func() []string {
		resp, err := http.Get(base + "/oauth/jwks")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []struct{ Kid string } }
		json.NewDecoder(resp.Body).Decode(&set)
		var out []string
		for _, k := range set.Keys {
			out = append(out, k.Kid)
		}
		return out
	}
	before := kids()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	if out, err := exec.Command(binary, "keys", "rotate", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	p2 := start(t, dir, adminEnv(), args...)
	base = "http://" + p2.HTTPAddr
	after := kids()
	if len(after) <= len(before) {
		t.Fatalf("JWKS before %v, after rotation %v: want the new keys added", before, after)
	}
	for _, k := range before {
		if !strings.Contains(strings.Join(after, " "), k) {
			t.Fatalf("retired key %s left the JWKS while its tokens are still valid", k)
		}
	}
	// A token signed before the rotation still works.
	resp, b = fhirDo(t, http.DefaultClient, "GET", base+"/fhir/Patient?family=Yundt", token, nil)
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("token from before the rotation refused: %v %s", resp, b)
	}
	p2.cmd.Process.Signal(syscall.SIGTERM)
	p2.wait(t)
}

// TestFullDatabaseAnswers503AndLosesNothing fills a database capped by
// --max-db-bytes (SQLite answers SQLITE_FULL, as on a full disk): the
// failing write is answered 503 with an OperationOutcome, earlier writes
// are intact, and the database passes integrity_check.
func TestFullDatabaseAnswers503AndLosesNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	p := start(t, dir, adminEnv(), "--http-addr", "127.0.0.1:0", "--https-addr", "", "--data", data, "--max-db-bytes", "1500000")
	base := "http://" + p.HTTPAddr
	token := owinToken(t, base)
	pad := strings.Repeat("x", 8000)
	var ids []string
	var last *http.Response
	var lastBody []byte
	for i := 0; i < 2000; i++ {
		body := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Full%d","text":"%s"}]}`, i, pad)
		resp, b := fhirDo(t, http.DefaultClient, "POST", base+"/fhir/Patient", token, []byte(body))
		if resp == nil {
			t.Fatal("server went away")
		}
		if resp.StatusCode != http.StatusCreated {
			last, lastBody = resp, b
			break
		}
		var r struct{ ID string }
		json.Unmarshal(b, &r)
		ids = append(ids, r.ID)
	}
	if last == nil || last.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(lastBody, []byte(`"OperationOutcome"`)) {
		t.Fatalf("write into a full database: %v %s", last, lastBody)
	}
	if len(ids) == 0 {
		t.Fatal("no write succeeded before the cap")
	}
	for _, id := range ids {
		resp, b := fhirDo(t, http.DefaultClient, "GET", base+"/fhir/Patient/"+id, token, nil)
		if resp == nil || resp.StatusCode != 200 {
			t.Fatalf("Patient/%s lost: %v %s", id, resp, b)
		}
	}
	resp, _ := http.Get(base + "/healthz")
	if resp == nil || resp.StatusCode != 200 {
		t.Fatal("server unhealthy after a full-database write")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	db, err := sqlite.Open(context.Background(), filepath.Join(data, "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}
