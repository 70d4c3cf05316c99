package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// waitAuditKind waits until a record of kind by actor exists.
func (h *harness) waitAuditKind(kind, actor string) {
	h.t.Helper()
	h.waitAuditFilter(audit.Filter{Kind: kind, Actor: actor})
}

// waitAuditFilter waits until a record that f selects exists (the recorder
// writes in batches).
func (h *harness) waitAuditFilter(f audit.Filter) {
	h.t.Helper()
	f.Limit = 1
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs, err := h.db.AuditEvents(context.Background(), f)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(evs) > 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no audit record %+v", f)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func auditEntries(r *response) []map[string]any {
	var out []map[string]any
	es, _ := r.json["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any)["resource"].(map[string]any))
	}
	return out
}

func TestIssue15AuditEventOverHTTP(t *testing.T) {
	h := newHarness(t)
	lind := h.patients["Lind"]
	tr := h.code(codeLaunch{user: "lind", password: userPassword, scope: "launch/patient patient/*.rs"})
	tok := tr.str("access_token")
	if r := h.do("GET", "Patient/"+lind, tok, nil); r.status != http.StatusOK {
		t.Fatalf("read own record: %d", r.status)
	}
	other := h.patients["Yundt"]
	h.do("GET", "Patient/"+other, tok, nil) // refused (404)
	admin := h.owin("admin", adminPassword)
	h.waitAuditKind("fhir", "")
	time.Sleep(300 * time.Millisecond)

	r := h.do("GET", "AuditEvent?patient="+lind, admin, nil)
	if r.status != http.StatusOK || r.json["type"] != "searchset" {
		t.Fatalf("admin search: %d %.300s", r.status, r.body)
	}
	var sawLoginOrToken, sawRead bool
	for _, ae := range auditEntries(r) {
		typ := ae["type"].(map[string]any)["code"]
		sub := ae["subtype"].([]any)[0].(map[string]any)["code"]
		if typ == "110114" {
			sawLoginOrToken = true
		}
		if typ == "rest" && sub == "read" && ae["outcome"] == "0" {
			sawRead = true
			// BALP's required elements, as plain JSON.
			for _, k := range []string{"type", "subtype", "action", "recorded", "outcome", "agent", "source", "entity"} {
				if ae[k] == nil {
					t.Errorf("AuditEvent without %s: %v", k, ae)
				}
			}
			if !strings.Contains(string(mustJSON(ae)), `"reference":"Patient/`+lind+`"`) || !strings.Contains(string(mustJSON(ae)), "XrequestId") {
				t.Errorf("read event lacks the patient or request entity: %s", mustJSON(ae))
			}
			if ae["source"].(map[string]any)["type"].([]any)[0].(map[string]any)["code"] != "4" {
				t.Errorf("source type: %v", ae["source"])
			}
		}
	}
	if !sawLoginOrToken || !sawRead {
		t.Errorf("patient=%s: token/login %v, read %v; %.1000s", lind, sawLoginOrToken, sawRead, r.body)
	}
	// outcome=4: only refusals; date filters.
	for _, ae := range auditEntries(h.do("GET", "AuditEvent?outcome=4", admin, nil)) {
		if ae["outcome"] != "4" {
			t.Errorf("outcome=4 gave %v", ae["outcome"])
		}
	}
	today := time.Now().UTC().Format("2006-01-02")
	if n := len(auditEntries(h.do("GET", "AuditEvent?date=ge"+today, admin, nil))); n == 0 {
		t.Error("date=ge today: none")
	}
	if n := len(auditEntries(h.do("GET", "AuditEvent?date=lt2000-01-01", admin, nil))); n != 0 {
		t.Errorf("date=lt2000: %d", n)
	}
	// Paging.
	p := h.do("GET", "AuditEvent?_count=1", admin, nil)
	var next string
	for _, l := range p.json["link"].([]any) {
		if m := l.(map[string]any); m["relation"] == "next" {
			next = m["url"].(string)
		}
	}
	if len(auditEntries(p)) != 1 || next == "" {
		t.Fatalf("_count=1: %d entries, next %q", len(auditEntries(p)), next)
	}
	if p2 := h.do("GET", next, admin, nil); p2.status != 200 || len(auditEntries(p2)) != 1 || auditEntries(p2)[0]["id"] == auditEntries(p)[0]["id"] {
		t.Errorf("next page: %d %.200s", p2.status, p2.body)
	}
	// Read by id.
	id := auditEntries(p)[0]["id"].(string)
	if rr := h.do("GET", "AuditEvent/"+id, admin, nil); rr.status != 200 || rr.json["id"] != id {
		t.Errorf("read: %d %.200s", rr.status, rr.body)
	}
	if rr := h.do("GET", "AuditEvent/999999999", admin, nil); rr.status != 404 {
		t.Errorf("read missing: %d", rr.status)
	}
	// Bad input.
	for _, q := range []string{"AuditEvent?date=yesterday", "AuditEvent?_count=x", "AuditEvent?outcome=3"} {
		if rr := h.do("GET", q, admin, nil); rr.status != 400 || rr.json["resourceType"] != "OperationOutcome" {
			t.Errorf("%s: %d %.200s", q, rr.status, rr.body)
		}
	}
	if rr := h.do("GET", "AuditEvent?_count=100000", admin, nil); rr.status != 200 {
		t.Errorf("_count=100000: %d", rr.status)
	}
	// Who may not.
	doc := h.code(codeLaunch{user: "doc", password: userPassword, scope: "user/*.rs"}).str("access_token")
	for name, tk := range map[string]string{"patient": tok, "practitioner": doc, "practitioner owin": h.owin("doc", userPassword),
		"backend": h.backendToken("system/*.rs")} {
		for _, q := range []string{"AuditEvent", "AuditEvent/" + id} {
			if rr := h.do("GET", q, tk, nil); rr.status != 403 || rr.json["resourceType"] != "OperationOutcome" {
				t.Errorf("%s %s: %d %.200s", name, q, rr.status, rr.body)
			}
		}
	}
	if rr := h.do("GET", "AuditEvent", "", nil); rr.status != 401 {
		t.Errorf("no token: %d", rr.status)
	}
	// Writes, history, _search POST, batch entries.
	ae := map[string]any{"resourceType": "AuditEvent", "id": id}
	for _, c := range []struct{ method, path string }{{"POST", "AuditEvent"}, {"PUT", "AuditEvent/" + id}, {"DELETE", "AuditEvent/" + id},
		{"PATCH", "AuditEvent/" + id}, {"DELETE", "AuditEvent"}, {"GET", "AuditEvent/_history"}, {"GET", "AuditEvent/" + id + "/_history"}} {
		if rr := h.do(c.method, c.path, admin, ae); rr.status != 405 || rr.json["resourceType"] != "OperationOutcome" {
			t.Errorf("%s %s: %d %.200s", c.method, c.path, rr.status, rr.body)
		}
	}
	if rr := h.do("POST", "AuditEvent/_search", admin, url.Values{"outcome": {"4"}}); rr.status != 200 || rr.json["type"] != "searchset" {
		t.Errorf("POST _search: %d %.200s", rr.status, rr.body)
	}
	batch := map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
		map[string]any{"request": map[string]any{"method": "GET", "url": "AuditEvent/" + id}},
		map[string]any{"request": map[string]any{"method": "POST", "url": "AuditEvent"}, "resource": ae}}}
	br := h.do("POST", "", admin, batch)
	if br.status == 200 {
		for _, e := range br.json["entry"].([]any) {
			st := e.(map[string]any)["response"].(map[string]any)["status"].(string)
			if !strings.HasPrefix(st, "405") && !strings.HasPrefix(st, "403") && !strings.HasPrefix(st, "400") {
				t.Errorf("batch entry answered %s", st)
			}
		}
	} else if br.status != 405 && br.status != 400 {
		t.Errorf("batch: %d %.300s", br.status, br.body)
	}
	// CapabilityStatement: read and search-type only.
	md := h.do("GET", "metadata", "", nil)
	if !strings.Contains(string(md.body), `"type":"AuditEvent"`) {
		t.Fatal("metadata has no AuditEvent")
	}
	for _, res := range md.json["rest"].([]any)[0].(map[string]any)["resource"].([]any) {
		m := res.(map[string]any)
		if m["type"] == "AuditEvent" && len(m["interaction"].([]any)) != 2 {
			t.Errorf("AuditEvent interactions: %v", m["interaction"])
		}
	}
}

func TestIssue15AuditPage(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.db.InsertAudit(ctx, []audit.Event{
		{Kind: "fhir", Action: "read", Actor: `<script>alert(1)</script>`, Resource: `Observation/<b>x</b>`, Detail: `<img src=x onerror=alert(1)>`,
			Patient: "p-markup", Outcome: audit.Denied},
		{Kind: "login", Actor: "someone", Outcome: audit.Success, Patient: "p-other"},
	}); err != nil {
		t.Fatal(err)
	}
	admin := h.pageSession("admin", adminPassword)
	r := h.page(admin, "GET", h.baseA+"/admin/audit?patient=p-markup", nil)
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, "data-audit-row") || strings.Contains(body, "<script>alert") ||
		strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;script&gt;") || !strings.Contains(body, "data-explain") ||
		strings.Contains(body, "someone") || !strings.Contains(body, `aria-current="page">Audit`) {
		t.Fatalf("audit page: %d %.2000s", r.status, body)
	}
	for _, q := range []string{"from=yesterday", "size=100000", "size=0", "outcome=odd", "before=x"} {
		if r := h.page(admin, "GET", h.baseA+"/admin/audit?"+q, nil); r.status != 400 || !strings.Contains(string(r.body), "data-audit-error") {
			t.Errorf("%s: %d", q, r.status)
		}
	}
	if r := h.page(admin, "GET", h.baseA+"/admin/audit?size=1", nil); !strings.Contains(string(r.body), "data-next") {
		t.Errorf("size=1: no next link")
	}
	ex := h.page(admin, "GET", h.baseA+"/admin/audit/export.ndjson?kind=fhir", nil)
	if ex.status != 200 || !strings.HasPrefix(ex.header.Get("Content-Type"), "application/fhir+ndjson") {
		t.Fatalf("export: %d %s", ex.status, ex.header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(bytes.NewReader(ex.body))
	lines := 0
	for sc.Scan() {
		var ae map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ae); err != nil || ae["resourceType"] != "AuditEvent" || ae["type"] == nil {
			t.Errorf("line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines == 0 {
		t.Error("export: no lines")
	}
	for _, u := range []string{"lind", "doc"} {
		c := h.pageSession(u, userPassword)
		for _, p := range []string{"/admin/audit", "/admin/audit/export.ndjson"} {
			if r := h.page(c, "GET", h.baseA+p, nil); r.status != http.StatusForbidden {
				t.Errorf("%s %s: %d", u, p, r.status)
			}
		}
	}
}

func TestIssue15AuditRetention(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	if err := h.db.InsertAudit(ctx, []audit.Event{{At: old, Kind: "login", Actor: "old"}, {At: old, Kind: "login", Actor: "old"}}); err != nil {
		t.Fatal(err)
	}
	n := pruneAuditOnce(ctx, h.db, 24*time.Hour, time.Now, slog.New(slog.DiscardHandler))
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	if evs, _ := h.db.AuditEvents(ctx, audit.Filter{Actor: "old"}); len(evs) != 0 {
		t.Errorf("left: %d", len(evs))
	}
}

func TestIssue15AuditEventProxyMode(t *testing.T) {
	h := newProxyHarness(t)
	admin := h.owin("admin", adminPassword)
	h.waitAuditKind("owin", "")
	r := h.do("GET", "AuditEvent?_count=5", admin, nil)
	if r.status != http.StatusOK || r.json["type"] != "searchset" || len(auditEntries(r)) == 0 {
		t.Fatalf("proxy mode AuditEvent search: %d %.300s", r.status, r.body)
	}
	if rr := h.do("POST", "AuditEvent", admin, map[string]any{"resourceType": "AuditEvent"}); rr.status != http.StatusMethodNotAllowed {
		t.Errorf("proxy mode create: %d", rr.status)
	}
}
