package fhirview

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// balp checks the elements every BALP-shaped AuditEvent has: type,
// subtype, action, recorded, outcome, a requestor agent, the server agent
// with its network address, the source with observer and type 4.
func balp(t *testing.T, ae map[string]any) {
	t.Helper()
	for _, k := range []string{"resourceType", "id", "type", "subtype", "action", "recorded", "outcome", "agent", "source"} {
		if ae[k] == nil {
			t.Errorf("%s missing", k)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, ae["recorded"].(string)); err != nil {
		t.Errorf("recorded %v: %v", ae["recorded"], err)
	}
	agents := ae["agent"].([]any)
	requestors, server := 0, false
	for _, a := range agents {
		m := a.(map[string]any)
		if m["requestor"] == true {
			requestors++
		}
		if m["who"] == nil || m["type"] == nil {
			t.Errorf("agent without who or type: %v", m)
		}
		if code(m["type"].(map[string]any)["coding"].([]any)[0]) == "110152" {
			server = m["network"] != nil
		}
	}
	if requestors != 1 || !server {
		t.Errorf("requestors %d, server agent with network %v: %v", requestors, server, agents)
	}
	src := ae["source"].(map[string]any)
	if src["observer"] == nil || code(src["type"].([]any)[0]) != "4" {
		t.Errorf("source = %v", src)
	}
}

func code(c any) string { s, _ := c.(map[string]any)["code"].(string); return s }

func entity(ae map[string]any, role string) map[string]any {
	ents, _ := ae["entity"].([]any)
	for _, e := range ents {
		m := e.(map[string]any)
		if r, ok := m["role"]; ok && code(r) == role {
			return m
		}
	}
	return nil
}

func TestMapping(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name                     string
		ev                       audit.Event
		typ, subtype, action, oc string
		profile                  string
		patient, what, query     string
	}{
		{"login", audit.Event{Kind: "login", Actor: "u1", Action: "password", Outcome: audit.Success}, "110114", "110122", "E", "0", "", "", "", ""},
		{"failed login", audit.Event{Kind: "login", Outcome: audit.Failure, Detail: "bad password"}, "110114", "110122", "E", "8", "", "", "", ""},
		{"logout", audit.Event{Kind: "logout", Actor: "u1", Outcome: audit.Success}, "110114", "110123", "E", "0", "", "", "", ""},
		{"token", audit.Event{Kind: "token", Actor: "u1", ClientID: "app", Patient: "p1", Scopes: "patient/*.rs", Outcome: audit.Success}, "110114", "ITI-71", "E", "0", "", "p1", "", ""},
		{"refresh", audit.Event{Kind: "refresh", Actor: "u1", ClientID: "app", Outcome: audit.Success}, "110114", "ITI-71", "E", "0", "", "", "", ""},
		{"owin", audit.Event{Kind: "owin", Actor: "u1", Outcome: audit.Denied}, "110114", "ITI-71", "E", "4", "", "", "", ""},
		{"revoke", audit.Event{Kind: "revoke", ClientID: "app", Outcome: audit.Success}, "revoke", "revoke", "E", "0", "", "", "", ""},
		{"consent", audit.Event{Kind: "consent", Actor: "u1", ClientID: "app", Outcome: audit.Denied}, "consent", "consent", "E", "4", "", "", "", ""},
		{"fhir read of a patient's", audit.Event{Kind: "fhir", Action: "read", Actor: "u1", ClientID: "app", Patient: "p1", Resource: "Observation/o1", Outcome: audit.Success, RequestID: "r1"},
			"rest", "read", "R", "0", ProfileBase + "IHE.BasicAudit.PatientRead", "p1", "Observation/o1", ""},
		{"fhir read of a Patient", audit.Event{Kind: "fhir", Action: "read", Actor: "svc", ClientID: "svc", Resource: "Patient/p2", Outcome: audit.Success},
			"rest", "read", "R", "0", ProfileBase + "IHE.BasicAudit.PatientRead", "p2", "Patient/p2", ""},
		{"fhir search", audit.Event{Kind: "fhir", Action: "search-type", Actor: "u1", Resource: "Observation?category,patient", Outcome: audit.Success},
			"rest", "search-type", "E", "0", ProfileBase + "IHE.BasicAudit.Query", "", "", "Observation?category,patient"},
		{"fhir create", audit.Event{Kind: "fhir", Action: "create", Actor: "u1", Resource: "Observation", Outcome: audit.Success}, "rest", "create", "C", "0", ProfileBase + "IHE.BasicAudit.Create", "", "Observation", ""},
		{"fhir update denied", audit.Event{Kind: "fhir", Action: "update", Actor: "u1", Resource: "Observation/o1", Outcome: audit.Denied, Trace: `{"steps":[]}`}, "rest", "update", "U", "4", "", "", "Observation/o1", ""},
		{"fhir delete", audit.Event{Kind: "fhir", Action: "delete", Actor: "u1", Resource: "Observation/o1", Outcome: audit.Success}, "rest", "delete", "D", "0", ProfileBase + "IHE.BasicAudit.Delete", "", "Observation/o1", ""},
		{"fhir vread", audit.Event{Kind: "fhir", Action: "vread", Actor: "u1", Resource: "Observation/o1/_history/2", Outcome: audit.Success}, "rest", "vread", "R", "0", ProfileBase + "IHE.BasicAudit.Read", "", "Observation/o1/_history/2", ""},
		{"fhir history", audit.Event{Kind: "fhir", Action: "history-type", Actor: "u1", Resource: "Observation/_history", Outcome: audit.Success}, "rest", "history-type", "E", "0", ProfileBase + "IHE.BasicAudit.Query", "", "", "Observation/_history"},
		{"fhir bundle", audit.Event{Kind: "fhir", Action: "bundle", Actor: "u1", Outcome: audit.Failure}, "rest", "batch", "E", "8", "", "", "", ""},
		{"admin", audit.Event{Kind: "admin", Actor: "u1", Action: "create user", Resource: "User/u2", Outcome: audit.Success}, "110113", "110137", "C", "0", "", "", "", ""},
		{"scim", audit.Event{Kind: "scim", Actor: "prov", ClientID: "prov", Action: "delete", Outcome: audit.Success}, "110113", "110137", "D", "0", "", "", "", ""},
		{"registration", audit.Event{Kind: "client", Actor: "app", ClientID: "app", Action: "register", Outcome: audit.Success}, "110113", "110129", "C", "0", "", "", "", ""},
		{"certificate", audit.Event{Kind: "certificate", Actor: "u1", Action: "remove", Resource: "TrustedCertificate/ab", Outcome: audit.Success}, "110113", "110129", "D", "0", "", "", "", ""},
		{"unknown kind", audit.Event{Kind: "frobnicate", Actor: "u1", Action: "twiddle", Outcome: "odd"}, "frobnicate", "twiddle", "U", "8", "", "", "", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.ID, tc.ev.At, tc.ev.Address = int64(i+1), at, "192.0.2.7"
			ae := AuditEvent(tc.ev, Options{Base: "https://sg.example/fhir"})
			// Through JSON, as a client sees it.
			b, err := json.Marshal(ae)
			if err != nil {
				t.Fatal(err)
			}
			ae = nil
			if err := json.Unmarshal(b, &ae); err != nil {
				t.Fatal(err)
			}
			balp(t, ae)
			if got := code(ae["type"]); got != tc.typ {
				t.Errorf("type = %s, want %s", got, tc.typ)
			}
			if got := code(ae["subtype"].([]any)[0]); got != tc.subtype {
				t.Errorf("subtype = %s, want %s", got, tc.subtype)
			}
			if ae["action"] != tc.action || ae["outcome"] != tc.oc {
				t.Errorf("action, outcome = %v %v; want %s %s", ae["action"], ae["outcome"], tc.action, tc.oc)
			}
			var profile string
			if m, ok := ae["meta"].(map[string]any); ok {
				profile = m["profile"].([]any)[0].(string)
			}
			if profile != tc.profile {
				t.Errorf("profile = %q, want %q", profile, tc.profile)
			}
			pe := entity(ae, "1")
			switch {
			case tc.patient == "" && pe != nil:
				t.Errorf("patient entity %v, want none", pe)
			case tc.patient != "" && (pe == nil || pe["what"].(map[string]any)["reference"] != "Patient/"+tc.patient || code(pe["type"]) != "1"):
				t.Errorf("patient entity %v, want Patient/%s, type 1", pe, tc.patient)
			}
			if de := entity(ae, "4"); tc.what != "" && tc.ev.Kind == "fhir" && (de == nil || de["what"].(map[string]any)["reference"] != tc.what) {
				t.Errorf("resource entity %v, want %s", de, tc.what)
			}
			if tc.query != "" {
				qe := entity(ae, "24")
				raw, _ := base64.StdEncoding.DecodeString(qe["query"].(string))
				if string(raw) != tc.query {
					t.Errorf("query entity %v, want %q", qe, tc.query)
				}
			}
		})
	}
}

func TestMappingRequestIDAndUser(t *testing.T) {
	ae := AuditEvent(audit.Event{ID: 9, Kind: "fhir", Action: "read", Actor: "u1", ClientID: "app", Resource: "Patient/p",
		RequestID: "req-1", Scopes: "user/*.rs", Outcome: audit.Success}, Options{Base: "https://sg.example/fhir"})
	var tx map[string]any
	for _, e := range ae["entity"].([]any) {
		if m := e.(map[string]any); code(m["type"]) == "XrequestId" {
			tx = m
		}
	}
	if tx == nil || tx["what"].(map[string]any)["identifier"].(map[string]any)["value"] != "req-1" {
		t.Errorf("transaction entity = %v", tx)
	}
	user := ae["agent"].([]any)[0].(map[string]any)
	if user["requestor"] != true || user["who"].(map[string]any)["identifier"].(map[string]any)["value"] != "u1" {
		t.Errorf("user agent = %v", user)
	}
	client := ae["agent"].([]any)[1].(map[string]any)
	if client["requestor"] != false || client["who"].(map[string]any)["identifier"].(map[string]any)["value"] != "app" {
		t.Errorf("client agent = %v", client)
	}
}
