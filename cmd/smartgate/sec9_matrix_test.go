package main

// TestSec9Confinement_Matrix: patient confinement (issue 9, D1, D2, D3, D9)
// table-driven over every FHIR interaction × own/other/deleted/new
// resources × tokens from the real flows × every enforcement path. The
// expected answers come from the rules (docs/fhir-access.md,
// ../shared/interface.md, SMART App Launch 2.2 scopes), not from what
// the code does: another patient's resource, live or deleted, is answered
// like an id that does not exist; writes that reach another patient are
// refused and leave the store as it was (read back with an administrator
// token); searches, histories and includes return only what the token
// reaches; a chained search needs search on the chain's target type (else
// 403) and matches only targets within the token's reach, on every search
// path (so it is no oracle on another patient's demographics). Failures are one line each: path, token, interaction,
// resource, want, got.

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// enforcementPath is one way a request reaches an access decision: a FHIR
// base URL. A proxy or gateway in front of another FHIR server is one more
// row of matrixPaths.
type enforcementPath struct {
	name string
	base string // FHIR base URL, no trailing slash
	// reach, when set, is what a token reaches on this path (a gateway
	// knows a person by the token alone); nil: the token's own reach.
	reach func(k *matrixToken) reach
	// window is the history window as this path pages it ("": the
	// matrix's, made by the harness's own endpoint).
	window string
}

// tokensFor returns the tokens as path p sees them.
func (p enforcementPath) tokensFor(tokens []*matrixToken) []*matrixToken {
	if p.reach == nil {
		return tokens
	}
	out := make([]*matrixToken, len(tokens))
	for i, k := range tokens {
		kk := *k
		kk.reach = p.reach(k)
		out[i] = &kk
	}
	return out
}

func matrixPaths(h *harness) []enforcementPath {
	return []enforcementPath{
		{name: "embedded-https", base: h.baseA + "/fhir"},
		{name: "embedded-http", base: h.baseB + "/fhir"},
	}
}

// reach is what a token's grant reaches on Observation, by the rules.
type reach int

const (
	reachAnon    reach = iota // no token: 401 everywhere
	reachNothing              // no patient context: nothing (403, 404 or empty)
	reachOwn                  // ME's compartment only
	reachAll                  // every compartment (user/ of practitioner or admin, system/)
)

// matrixToken is one kind of token of the matrix, obtained once.
type matrixToken struct {
	name    string
	token   string
	letters string // SMART v2 letters granted on Observation
	wild    bool   // the scopes name type * (system history)
	reach   reach
}

// writes: the token may create, update or delete Observations somewhere.
func (k *matrixToken) writes() bool {
	return k.reach != reachAnon && strings.ContainsAny(k.letters, "cud")
}

func (k *matrixToken) has(letters string) bool {
	for _, l := range letters {
		if !strings.ContainsRune(k.letters, l) {
			return false
		}
	}
	return true
}

// scope sets of the patient-context tokens: v1 and v2 grammar. Each is
// granted through the demo patient's standalone launch; those marked ehr
// also through a practitioner's EHR launch (the decision does not depend on
// the flow once the patient context is set; two sets, one v1 and one v2,
// keep the flow covered within the CI budget).
var matrixScopeSets = []struct {
	name, scopes, letters string
	wild, ehr             bool
}{
	{"v1-wildcard", "patient/*.read patient/*.write", "cruds", true, true},
	{"v1-observation", "patient/Observation.*", "cruds", false, false},
	{"v2-wildcard", "patient/*.cruds", "cruds", true, false},
	{"v2-observation-rs", "patient/Observation.rs", "rs", false, false},
	{"v2-granular-lab", "patient/Observation.rs?category=" + labCategory, "rs", false, true},
}

// matrix is the shared state of TestSec9Confinement_Matrix.
type matrix struct {
	h         *harness
	me, other string
	admin     string // OWin administrator token: reads the store back
	fixtures  []fixtureRes
	anchor    string
	window    string // history query limiting a listing to the fixtures' versions
	since     string // its _since
	otherIDs  map[string]bool
}

// fixtureRes is a read-phase resource: an Observation of owner, deleted or
// not, or an id that never existed.
type fixtureRes struct {
	label   string
	id      string
	owner   string // Patient id ("" for new)
	deleted bool
	exists  bool
}

const (
	fixtureSystem = "urn:sec9:fixture"
)

// chainQuery searches fixture f through a chain into its patient's
// demographics (the D3 oracle: whether it matches tells OTHER's family name).
func (m *matrix) chainQuery(f fixtureRes) string {
	family := "Lind"
	if f.owner == m.other {
		family = "Yundt"
	}
	return "_id=" + f.id + "&subject:Patient.family=" + family
}

// matrixObservation is an Observation of patient in category (the read
// fixtures are laboratory results, which the granular scope reaches; write
// targets and bodies are "activity", so that the thousands of them do not
// slow down the laboratory searches of later rows).
func matrixObservation(id, patient, category string, extra map[string]any) map[string]any {
	o := observation(patient, category, extra)
	o["code"] = map[string]any{"text": "sec9 matrix"}
	if id != "" {
		o["id"] = id
	}
	return o
}

func identifier(system, value string) []any {
	return []any{map[string]any{"system": system, "value": value}}
}

func bundleEntry(method, u string, res map[string]any, ifNoneExist string) map[string]any {
	req := map[string]any{"method": method, "url": u}
	if ifNoneExist != "" {
		req["ifNoneExist"] = ifNoneExist
	}
	e := map[string]any{"request": req}
	if res != nil {
		e["resource"] = res
	}
	return e
}

// adminBundle sends a transaction as the administrator; it must succeed.
func (m *matrix) adminBundle(t testing.TB, entries ...map[string]any) {
	t.Helper()
	r := m.h.fhirRequest(t, "POST", m.h.baseA+"/fhir", m.admin, bundleOf("transaction", entries...), nil)
	if r.status != http.StatusOK {
		t.Fatalf("administrator transaction: %d %.400s", r.status, r.body)
	}
}

// newMatrix stores the read-phase fixtures: ME's and OTHER's laboratory
// Observations, live and deleted, and an anchor (ME's) whose focus names
// every fixture while every fixture's focus names the anchor (_include and
// _revinclude bait). window limits a history listing to their versions.
func newMatrix(t *testing.T, h *harness) *matrix {
	m := &matrix{h: h, me: h.patients["Lind"], other: h.patients["Yundt"], admin: h.owin("admin", adminPassword),
		anchor: "s9-anchor", otherIDs: map[string]bool{}}
	m.fixtures = []fixtureRes{
		{label: "own", id: "s9-own", owner: m.me, exists: true},
		{label: "own-deleted", id: "s9-own-deleted", owner: m.me, deleted: true, exists: true},
		{label: "other", id: "s9-other", owner: m.other, exists: true},
		{label: "other-deleted", id: "s9-other-deleted", owner: m.other, deleted: true, exists: true},
		{label: "new", id: "s9-never-stored"},
	}
	since := time.Now().UTC().Add(-time.Millisecond).Format(time.RFC3339Nano)
	var focus []any
	var puts, dels []map[string]any
	for _, f := range m.fixtures {
		focus = append(focus, ref("Observation/"+f.id))
		if !f.exists {
			continue
		}
		if f.owner == m.other {
			m.otherIDs[f.id] = true
		}
		o := matrixObservation(f.id, f.owner, "laboratory", map[string]any{"identifier": identifier(fixtureSystem, f.id),
			"focus": []any{ref("Observation/" + m.anchor)}})
		puts = append(puts, bundleEntry("PUT", "Observation/"+f.id, o, ""))
		if f.deleted {
			dels = append(dels, bundleEntry("DELETE", "Observation/"+f.id, nil, ""))
		}
	}
	anchor := matrixObservation(m.anchor, m.me, "laboratory", map[string]any{"identifier": identifier(fixtureSystem, m.anchor), "focus": focus})
	puts = append(puts, bundleEntry("PUT", "Observation/"+m.anchor, anchor, ""))
	m.adminBundle(t, puts...)
	m.adminBundle(t, dels...)
	// The window ends below a marker written after the fixtures: the
	// next link of a one-entry history page (the marker) continues with
	// the versions before it. The cursor is opaque; no arithmetic on it.
	m.adminBundle(t, bundleEntry("POST", "Basic", map[string]any{"resourceType": "Basic",
		"code": map[string]any{"text": "sec9 window end"}}, ""))
	m.since = since
	m.window = m.windowAt(t, h.baseA+"/fhir", m.admin)
	return m
}

// windowAt is the fixtures' history window as the FHIR base at base pages
// it (a cursor is made by, and good for, the endpoint that made it), read
// with a token that reaches the marker.
func (m *matrix) windowAt(t *testing.T, base, token string) string {
	r := m.h.fhirRequest(t, "GET", base+"/_history?_count=1", token, nil, nil)
	next := ""
	links, _ := r.json["link"].([]any)
	for _, l := range links {
		lm, _ := l.(map[string]any)
		if lm["relation"] == "next" {
			next, _ = lm["url"].(string)
		}
	}
	u, err := url.Parse(next)
	cursor := u.Query().Get("_cursor")
	if err != nil || cursor == "" || !strings.Contains(string(r.body), `"Basic"`) {
		t.Fatalf("%s: history next link %q after the marker: %v %.300s", base, next, err, r.body)
	}
	return url.Values{"_since": {m.since}, "_cursor": {cursor}, "_count": {"1000"}}.Encode()
}

// reached: the token's grant reaches resources in owner's compartment.
func (m *matrix) reached(k *matrixToken, owner string) bool {
	return k.reach == reachAll || k.reach == reachOwn && owner == m.me
}

func (m *matrix) visible(k *matrixToken, f fixtureRes) bool {
	return f.exists && !f.deleted && m.reached(k, f.owner)
}

// ---- expectations ----

// want is what an answer must be: one of statuses (with an
// OperationOutcome body when >= 400), and for 2xx the body check.
type want struct {
	statuses []int
	body     func(b map[string]any) string // "" when the body is right
	desc     string
	effect   effect // writes: what the store must show afterwards
}

func (w want) String() string {
	var s []string
	for _, c := range w.statuses {
		s = append(s, strconv.Itoa(c))
	}
	out := strings.Join(s, "|")
	if w.desc != "" {
		out += " " + w.desc
	}
	return out
}

func wantStatus(codes ...int) want { return want{statuses: codes} }

// check returns "" when r is as wanted, else what it got.
func (w want) check(r *response) string {
	if !slices.Contains(w.statuses, r.status) {
		return describe(r)
	}
	if r.status >= 400 && r.json["resourceType"] != "OperationOutcome" {
		return describe(r) + " (not an OperationOutcome)"
	}
	if w.body != nil && r.status < 300 {
		if got := w.body(r.json); got != "" {
			return fmt.Sprintf("%d %s", r.status, got)
		}
	}
	return ""
}

// describe summarises an answer for a failure line.
func describe(r *response) string {
	rt, _ := r.json["resourceType"].(string)
	switch rt {
	case "OperationOutcome":
		issues, _ := r.json["issue"].([]any)
		if len(issues) > 0 {
			is, _ := issues[0].(map[string]any)
			return fmt.Sprintf("%d OperationOutcome(%v: %v)", r.status, is["code"], is["diagnostics"])
		}
	case "Bundle":
		ids, _ := entries(r.json, "")
		return fmt.Sprintf("%d Bundle(%v) %v", r.status, r.json["type"], ids)
	case "":
		return fmt.Sprintf("%d %.120s", r.status, r.body)
	}
	return fmt.Sprintf("%d %s/%v", r.status, rt, r.json["id"])
}

// entryResponse turns entry i of a batch/transaction response into a
// response (status of the entry, its resource or outcome).
func entryResponse(b map[string]any, i int) *response {
	list, _ := b["entry"].([]any)
	if i >= len(list) {
		return &response{status: 0, body: []byte(fmt.Sprintf("no entry %d in %v", i, b["type"]))}
	}
	e, _ := list[i].(map[string]any)
	resp, _ := e["response"].(map[string]any)
	st, _ := resp["status"].(string)
	code, _ := strconv.Atoi(strings.Fields(st + " 0")[0])
	out := &response{status: code}
	if res, ok := e["resource"].(map[string]any); ok {
		out.json = res
	} else if oo, ok := resp["outcome"].(map[string]any); ok {
		out.json = oo
	} else {
		out.json = map[string]any{}
	}
	out.body = mustJSON(out.json)
	return out
}

// checkBatch: the batch itself is 200 (401 without a token), entry i as w.
func checkBatch(k *matrixToken, w want, r *response, i int) string {
	if k.reach == reachAnon {
		return wantStatus(http.StatusUnauthorized).check(r)
	}
	if r.status == http.StatusForbidden && (k.letters == "" || k.reach == reachNothing) {
		return "" // a token that reaches nothing may be refused the whole Bundle before its body
	}
	if r.status != http.StatusOK {
		return "batch " + describe(r)
	}
	return w.check(entryResponse(r.json, i))
}

// checkTransaction: a one-entry transaction is the entry's answer when it
// is accepted (200, entry as w), else the whole Bundle's status is w's.
func checkTransaction(w want, r *response) string {
	if r.status == http.StatusOK && r.json["type"] == "transaction-response" {
		got := w.check(entryResponse(r.json, 0))
		if got != "" {
			return "transaction 200, entry " + got
		}
		return ""
	}
	return w.check(r)
}

// inReach reports a listed resource outside the token's reach: for a
// patient/ token, one not in ME's Patient compartment (Observation: subject
// or performer), or a listed id of another patient's fixture (content or
// deletion).
func (m *matrix) inReach(k *matrixToken, resources []map[string]any, ids []string) string {
	if k.reach != reachOwn {
		return ""
	}
	for _, res := range resources {
		if !slices.Contains(compartmentRefs(res), "Patient/"+m.me) {
			return fmt.Sprintf("lists %v/%v of %v", res["resourceType"], res["id"], compartmentRefs(res))
		}
	}
	for _, id := range ids {
		if m.otherIDs[strings.TrimPrefix(id, "Observation/")] {
			return "lists " + id
		}
	}
	return ""
}

// compartmentRefs are the patient references that put a resource in a
// Patient compartment (as far as the matrix's types go: the Patient itself,
// subject, patient, performer).
func compartmentRefs(res map[string]any) []string {
	if res["resourceType"] == "Patient" {
		return []string{fmt.Sprintf("Patient/%v", res["id"])}
	}
	var out []string
	for _, k := range []string{"subject", "patient", "performer"} {
		var list []any
		switch v := res[k].(type) {
		case map[string]any:
			list = []any{v}
		case []any:
			list = v
		}
		for _, e := range list {
			em, _ := e.(map[string]any)
			if r, _ := em["reference"].(string); strings.HasPrefix(r, "Patient/") {
				out = append(out, r)
			}
		}
	}
	return out
}

// searchWant: a searchset whose entries of mode are in reach and in which
// id is present exactly when present is true.
func (m *matrix) searchWant(k *matrixToken, mode, id string, present bool) want {
	return want{statuses: []int{http.StatusOK}, desc: fmt.Sprintf("searchset, %s %s %s", mode, id, map[bool]string{true: "present", false: "absent"}[present]),
		body: func(b map[string]any) string {
			if b["type"] != "searchset" {
				return fmt.Sprintf("Bundle type %v", b["type"])
			}
			ids, res := entries(b, mode)
			if got := m.inReach(k, res, ids); got != "" {
				return got
			}
			if slices.Contains(ids, "Observation/"+id) != present {
				return fmt.Sprintf("%s entries %v", mode, ids)
			}
			return ""
		}}
}

// nothingWant: a token that reaches nothing gets 403, 404 or nothing listed.
func nothingWant() want {
	return want{statuses: []int{http.StatusOK, http.StatusForbidden, http.StatusNotFound}, desc: "nothing listed",
		body: func(b map[string]any) string {
			if ids, _ := entries(b, ""); len(ids) > 0 {
				return fmt.Sprintf("lists %v", ids)
			}
			if ids := historyIDs(b); len(ids) > 0 {
				return fmt.Sprintf("lists %v", ids)
			}
			return ""
		}}
}

// historyIDs are the Type/id of every history entry (deletions too).
func historyIDs(b map[string]any) []string {
	var out []string
	list, _ := b["entry"].([]any)
	for _, e := range list {
		em, _ := e.(map[string]any)
		if fu, _ := em["fullUrl"].(string); fu != "" {
			parts := strings.Split(fu, "/")
			if len(parts) >= 2 {
				out = append(out, parts[len(parts)-2]+"/"+parts[len(parts)-1])
			}
		}
	}
	return out
}

// readWant: read, vread, instance history of fixture f.
func (m *matrix) readWant(k *matrixToken, in string, f fixtureRes) want {
	switch {
	case k.reach == reachAnon:
		return wantStatus(http.StatusUnauthorized)
	case !k.has("r"):
		return wantStatus(http.StatusForbidden)
	case k.reach == reachNothing:
		return wantStatus(http.StatusForbidden, http.StatusNotFound)
	case !f.exists || !m.reached(k, f.owner):
		return wantStatus(http.StatusNotFound)
	}
	switch in {
	case "read":
		if f.deleted {
			return wantStatus(http.StatusGone)
		}
		return want{statuses: []int{http.StatusOK}, desc: "Observation/" + f.id, body: func(b map[string]any) string {
			if b["id"] != f.id {
				return fmt.Sprintf("%v/%v", b["resourceType"], b["id"])
			}
			return ""
		}}
	case "vread":
		return want{statuses: []int{http.StatusOK}, desc: "version 1", body: func(b map[string]any) string {
			if meta, _ := b["meta"].(map[string]any); b["id"] != f.id || meta["versionId"] != "1" {
				return fmt.Sprintf("%v/%v %v", b["resourceType"], b["id"], b["meta"])
			}
			return ""
		}}
	}
	return want{statuses: []int{http.StatusOK}, desc: "history of " + f.id, body: func(b map[string]any) string {
		ids := historyIDs(b)
		if len(ids) == 0 {
			return "empty history"
		}
		for _, id := range ids {
			if id != "Observation/"+f.id {
				return "lists " + id
			}
		}
		return ""
	}}
}

// listWant: what a search that may list fixture f answers. mode "match":
// a search by _id (GET, POST _search, batch and transaction entries);
// "include": the anchor (ME's) matches and f is included exactly when the
// token may read it. chain: the search goes through a chain into Patient,
// which needs search of Patient (only the type-* scope sets have it), else
// 403; with it the chain matches only Patients within the token's reach,
// so f matches exactly when the token sees f (its owner's family is the
// chain's value).
func (m *matrix) listWant(k *matrixToken, f fixtureRes, mode string, chain bool) want {
	switch {
	case k.reach == reachAnon:
		return wantStatus(http.StatusUnauthorized)
	case !k.has("s") || chain && !k.wild:
		return wantStatus(http.StatusForbidden)
	case k.reach == reachNothing:
		return nothingWant()
	}
	return m.searchWant(k, mode, f.id, m.visible(k, f))
}

// historyWant: type or system history of the fixtures' window: every
// version listed is in reach, f is listed when it is the token's and live
// (own deleted resources are not required), never when it is not reached.
func (m *matrix) historyWant(k *matrixToken, system bool, f fixtureRes) want {
	switch {
	case k.reach == reachAnon:
		return wantStatus(http.StatusUnauthorized)
	case !k.has("s") || system && !k.wild:
		return wantStatus(http.StatusForbidden)
	case k.reach == reachNothing:
		return nothingWant()
	}
	return want{statuses: []int{http.StatusOK}, desc: "history within reach", body: func(b map[string]any) string {
		ids := historyIDs(b)
		if got := m.inReach(k, historyEntries(&response{json: b}), ids); got != "" {
			return got
		}
		listed := slices.Contains(ids, "Observation/"+f.id)
		switch {
		case listed && !m.reached(k, f.owner):
			return "lists Observation/" + f.id
		case !listed && m.visible(k, f):
			return fmt.Sprintf("Observation/%s missing from %v", f.id, ids)
		}
		return ""
	}}
}

// ---- the test ----

// TestSec9Confinement_Matrix is the patient-confinement matrix of issue 9:
// enforcement path × token × interaction × resource. One server, tokens
// obtained once per kind through the real flows.
func TestSec9Confinement_Matrix(t *testing.T) {
	h := newHarness(t)
	runConfinementMatrix(t, h, matrixPaths(h))
}

// TestIssue14ProxyConfinement_Matrix: the same table in proxy mode
// (--fhir-upstream in front of a separate smartgate process serving its
// embedded store without access control) and through `smartgate gateway`
// in front of that upstream (JWKS and introspection): one enforcement,
// three deployments.
func TestIssue14ProxyConfinement_Matrix(t *testing.T) {
	h := newProxyHarness(t)
	runConfinementMatrix(t, h, append([]enforcementPath{
		{name: "proxy-https", base: h.baseA + "/fhir"},
		{name: "proxy-http", base: h.baseB + "/fhir"},
	}, gatewayPaths(t, h)...))
}

func runConfinementMatrix(t *testing.T, h *harness, paths []enforcementPath) {
	m := newMatrix(t, h)
	tokens := m.tokens(t)
	for i := range paths {
		if paths[i].reach != nil {
			// Another deployment's endpoint makes its own cursors: the
			// backend service (first row) reaches the marker everywhere.
			paths[i].window = m.windowAt(t, paths[i].base, tokens[0].token)
		}
	}
	// Every row's reads first (one goroutine per path), then the rows.
	reads := make([][][]readResult, len(paths))
	var wg sync.WaitGroup
	for pi, p := range paths {
		wg.Go(func() {
			for _, k := range p.tokensFor(tokens) {
				reads[pi] = append(reads[pi], m.runReads(p, k))
			}
		})
	}
	wg.Wait()
	for pi, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			for gi, k := range p.tokensFor(tokens) {
				t.Run(k.name, func(t *testing.T) {
					for _, r := range reads[pi][gi] {
						t.Run(r.name, func(t *testing.T) {
							if r.got != "" {
								in, res, _ := strings.Cut(r.name, "/")
								t.Errorf("path=%s token=%s interaction=%s resource=%s: want %s; got %s", p.name, k.name, in, res, r.want, r.got)
							}
						})
					}
					m.runWrites(t, p, k, fmt.Sprintf("%s-%d", p.name, gi))
				})
			}
		})
	}
}

// tokens obtains every token kind once (before any subtest, so that -run
// can pick single rows) and checks each acquisition in a subtest
// tokens/<name>: the patient context, or none for accounts without a
// linked record (D1).
func (m *matrix) tokens(t *testing.T) []*matrixToken {
	h := m.h
	var out []*matrixToken
	problems := map[string]string{}
	var names []string
	note := func(name, problem string) {
		names = append(names, name)
		problems[name] = problem
	}
	admin := h.pageSession("admin", adminPassword)
	for _, set := range matrixScopeSets {
		for _, flow := range []string{"standalone-patient", "ehr-practitioner"} {
			if flow == "ehr-practitioner" && !set.ehr {
				continue
			}
			name := flow + "-" + set.name
			l := codeLaunch{user: "lind", password: userPassword, scope: "launch/patient openid fhirUser " + set.scopes}
			if flow == "ehr-practitioner" {
				l = codeLaunch{user: "doc", password: userPassword, scope: "launch openid fhirUser " + set.scopes,
					launch: h.ehrLaunch(admin, m.me)}
			}
			tr, err := h.codeFlow(l)
			switch {
			case err != nil:
				note(name, err.Error())
				continue
			case tr.str("patient") != m.me:
				note(name, fmt.Sprintf("patient context %q, want %q", tr.str("patient"), m.me))
			default:
				note(name, "")
			}
			out = append(out, &matrixToken{name: name, token: tr.str("access_token"), letters: set.letters, wild: set.wild, reach: reachOwn})
		}
	}
	out = append(out, &matrixToken{name: "owin-patient", token: h.owin("lind", userPassword), letters: "cruds", wild: true, reach: reachOwn})
	for _, user := range []string{"norecord", "norole"} {
		// D1: no picker (the flow would pick OTHER); launch/patient ends
		// with access_denied and a description ...
		tr, err := h.codeFlow(codeLaunch{user: user, password: userPassword, patient: m.other,
			scope: "launch/patient openid fhirUser patient/*.cruds"})
		switch {
		case err == nil:
			note(user+"-launch-patient", fmt.Sprintf("want access_denied with a description, got a token with patient %q scope %q",
				tr.str("patient"), tr.str("scope")))
		case !strings.Contains(err.Error(), "error=access_denied") || !strings.Contains(err.Error(), "error_description="):
			note(user+"-launch-patient", "want access_denied with a description, got "+err.Error())
		default:
			note(user+"-launch-patient", "")
		}
		// ... and without launch/patient the patient/ scopes are dropped
		// (or the authorization is denied: then there is no token to run).
		name := user + "-standalone"
		tr, err = h.codeFlow(codeLaunch{user: user, password: userPassword, patient: m.other, scope: "openid fhirUser patient/*.cruds"})
		switch {
		case err != nil && strings.Contains(err.Error(), "error=access_denied"):
			note(name, "")
		case err != nil:
			note(name, err.Error())
		default:
			problem := ""
			if tr.str("patient") != "" || strings.Contains(tr.str("scope"), "patient/") {
				problem = fmt.Sprintf("want no patient context and no patient/ scopes, got patient %q scope %q", tr.str("patient"), tr.str("scope"))
			}
			note(name, problem)
			out = append(out, &matrixToken{name: name, token: tr.str("access_token"), letters: "cruds", wild: true, reach: reachNothing})
		}
		r := h.postForm(h.baseA+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {userPassword}}, nil)
		if tok, _ := r.json["access_token"].(string); tok != "" {
			out = append(out, &matrixToken{name: user + "-owin", token: tok, letters: "cruds", wild: true, reach: reachNothing})
		}
	}
	for _, c := range []struct{ name, user, password string }{
		{"practitioner-user", "doc", userPassword}, {"administrator-user", "admin", adminPassword},
	} {
		tr := h.code(codeLaunch{user: c.user, password: c.password, scope: "openid fhirUser user/*.cruds"})
		out = append(out, &matrixToken{name: c.name, token: tr.str("access_token"), letters: "cruds", wild: true, reach: reachAll})
	}
	// First in the rows: a client_credentials token lives 5 minutes only.
	out = append([]*matrixToken{{name: "backend-service", token: h.backendToken("system/*.cruds"), letters: "cruds", wild: true, reach: reachAll}}, out...)
	out = append(out, &matrixToken{name: "anonymous", reach: reachAnon})
	t.Run("tokens", func(t *testing.T) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				if problems[name] != "" {
					t.Errorf("token=%s: %s", name, problems[name])
				}
			})
		}
	})
	return out
}

// readResult is the outcome of one read case: "" when as wanted.
type readResult struct{ name, want, got string }

// runReads sends the interactions that do not write, on the shared
// fixtures, and returns what each got. TestSec9Confinement_Matrix runs
// them for every row before any row writes, so that they see the store as
// the fixtures left it (the writes would make the history scans slower and
// fill ME's compartment).
func (m *matrix) runReads(p enforcementPath, k *matrixToken) []readResult {
	var out []readResult
	send := func(method, path string, body any) *response {
		r, err := m.h.tryRequest(method, path, k.token, body, nil)
		if err != nil {
			return &response{body: []byte(err.Error()), json: map[string]any{}}
		}
		return r
	}
	get := func(path string) *response { return send("GET", p.base+"/"+path, nil) }
	bundle := func(kind string, es ...map[string]any) *response { return send("POST", p.base, bundleOf(kind, es...)) }
	run := func(in string, f fixtureRes, w want, do func() string) {
		out = append(out, readResult{name: in + "/" + f.label, want: w.String(), got: do()})
	}
	// One request serves every resource: the batches, includes and histories.
	var batchRead, batchSearch, batchChain []map[string]any
	for _, f := range m.fixtures {
		batchRead = append(batchRead, bundleEntry("GET", "Observation/"+f.id, nil, ""))
		batchSearch = append(batchSearch, bundleEntry("GET", "Observation?_id="+f.id, nil, ""))
		batchChain = append(batchChain, bundleEntry("GET", "Observation?"+m.chainQuery(f), nil, ""))
	}
	shared := map[string]*response{}
	once := func(key string, send func() *response) *response {
		if r, ok := shared[key]; ok {
			return r
		}
		shared[key] = send()
		return shared[key]
	}
	for i, f := range m.fixtures {
		idq := "Observation?_id=" + f.id
		for _, in := range []string{"read", "vread", "history-instance"} {
			w := m.readWant(k, in, f)
			path := map[string]string{"read": "Observation/" + f.id, "vread": "Observation/" + f.id + "/_history/1",
				"history-instance": "Observation/" + f.id + "/_history"}[in]
			run(in, f, w, func() string { return w.check(get(path)) })
		}
		rw := m.readWant(k, "read", f)
		run("batch-read", f, rw, func() string {
			return checkBatch(k, rw, once("batch-read", func() *response { return bundle("batch", batchRead...) }), i)
		})
		run("transaction-read", f, rw, func() string {
			return checkTransaction(rw, bundle("transaction", batchRead[i]))
		})
		sw := m.listWant(k, f, "match", false)
		run("search-get", f, sw, func() string { return sw.check(get(idq)) })
		run("search-post", f, sw, func() string {
			return sw.check(send("POST", p.base+"/Observation/_search", url.Values{"_id": {f.id}}))
		})
		run("batch-search", f, sw, func() string {
			return checkBatch(k, sw, once("batch-search", func() *response { return bundle("batch", batchSearch...) }), i)
		})
		run("transaction-search", f, sw, func() string {
			return checkTransaction(sw, bundle("transaction", batchSearch[i]))
		})
		iw := m.listWant(k, f, "include", false)
		run("include", f, iw, func() string {
			return iw.check(once("include", func() *response { return get("Observation?_id=" + m.anchor + "&_include=Observation:focus") }))
		})
		if f.exists {
			run("revinclude", f, iw, func() string {
				return iw.check(once("revinclude", func() *response { return get("Observation?_id=" + m.anchor + "&_revinclude=Observation:focus") }))
			})
			for _, system := range []bool{false, true} {
				window := m.window
				if p.window != "" {
					window = p.window
				}
				in, path := "history-type", "Observation/_history?"+window
				if system {
					in, path = "history-system", "_history?"+window
				}
				hw := m.historyWant(k, system, f)
				run(in, f, hw, func() string { return hw.check(once(in, func() *response { return get(path) })) })
			}
		}
		cw := m.listWant(k, f, "match", true)
		run("chain-search-get", f, cw, func() string { return cw.check(get("Observation?" + m.chainQuery(f))) })
		run("chain-search-post", f, cw, func() string {
			form, _ := url.ParseQuery(m.chainQuery(f))
			return cw.check(send("POST", p.base+"/Observation/_search", form))
		})
		run("chain-batch", f, cw, func() string {
			return checkBatch(k, cw, once("chain-batch", func() *response { return bundle("batch", batchChain...) }), i)
		})
		run("chain-transaction", f, cw, func() string {
			return checkTransaction(cw, bundle("transaction", batchChain[i]))
		})
	}
	// A compartment search by patient: only resources in ME's compartment
	// (another patient's Observation naming ME as performer is in it),
	// never OTHER's fixture; ME's own search is not empty.
	for _, f := range []fixtureRes{m.fixtures[0], m.fixtures[2]} {
		w := m.listWant(k, f, "match", false)
		if k.has("s") && (k.reach == reachOwn || k.reach == reachAll) {
			nonEmpty := m.reached(k, f.owner)
			w = want{statuses: []int{http.StatusOK}, desc: "searchset in reach, without OTHER's fixture"}
			if nonEmpty {
				w.desc = "non-empty searchset in reach"
			}
			w.body = func(b map[string]any) string {
				ids, res := entries(b, "match")
				switch got := m.inReach(k, res, ids); {
				case got != "":
					return got
				case nonEmpty && len(ids) == 0:
					return "no matches"
				case !nonEmpty && slices.Contains(ids, "Observation/"+f.id):
					return "lists Observation/" + f.id
				}
				return ""
			}
		}
		run("search-compartment", f, w, func() string {
			return w.check(get("Observation?patient=" + f.owner + "&_count=20"))
		})
	}
	return out
}

// ---- writes ----

// effect is what a write must leave in the store.
type effect int

const (
	effNone   effect = iota // nothing stored, the target unchanged
	effPut                  // the target id holds the case's content (a new version)
	effDelete               // the target is deleted
	effCreate               // one new resource (not the target) holds the case's content
)

// writeSpec is one row of the write table: what is addressed and what
// content is sent.
type writeSpec struct {
	in, label string
	target    string // "none" (create), "live", "deleted", "new", "fixture" (a read fixture)
	owner     string // of the target: "me" or "other"
	content   string // "me", "other", "other-performer-me", "" (no body)
}

func writeSpecs() []writeSpec {
	var out []writeSpec
	add := func(in, label, target, owner, content string) {
		out = append(out, writeSpec{in: in, label: label, target: target, owner: owner, content: content})
	}
	add("create", "own", "none", "", "me")
	add("create", "other", "none", "", "other")
	add("create", "other-performer-me", "none", "", "other-performer-me")
	add("update", "own", "live", "me", "me")
	add("update", "own-to-other", "live", "me", "other")
	add("update", "own-to-other-performer-me", "live", "me", "other-performer-me")
	add("update", "own-deleted", "deleted", "me", "me")
	add("update", "other", "live", "other", "me")
	add("update", "other-performer-me", "live", "other", "other-performer-me")
	add("update", "other-deleted", "deleted", "other", "me")
	add("update", "new", "new", "", "me")
	add("update", "new-as-other", "new", "", "other")
	add("update", "new-as-other-performer-me", "new", "", "other-performer-me")
	for _, in := range []string{"delete", "cond-delete"} {
		add(in, "own", "live", "me", "")
		add(in, "own-deleted", "deleted", "me", "")
		add(in, "other", "live", "other", "")
		add(in, "other-deleted", "deleted", "other", "")
		add(in, "new", "new", "", "")
	}
	add("patch", "own", "live", "me", "")
	add("patch", "other", "live", "other", "")
	add("patch", "other-deleted", "deleted", "other", "")
	add("patch", "new", "new", "", "")
	add("cond-create", "own", "live", "me", "me")
	add("cond-create", "own-deleted", "deleted", "me", "me")
	add("cond-create", "other", "live", "other", "me")
	add("cond-create", "other-deleted", "deleted", "other", "me")
	add("cond-create", "new", "new", "", "me")
	add("cond-create", "new-as-other", "new", "", "other")
	add("cond-create", "new-as-other-performer-me", "new", "", "other-performer-me")
	add("cond-update", "own", "live", "me", "me")
	add("cond-update", "own-to-other", "live", "me", "other")
	add("cond-update", "own-to-other-performer-me", "live", "me", "other-performer-me")
	add("cond-update", "own-deleted", "deleted", "me", "me")
	add("cond-update", "other", "live", "other", "me")
	add("cond-update", "other-deleted", "deleted", "other", "me")
	add("cond-update", "new", "new", "", "me")
	add("cond-update", "new-as-other", "new", "", "other")
	for _, f := range []string{"own", "own-deleted", "other", "other-deleted", "new"} {
		add("chain-cond-create", f, "fixture", "", "me")
	}
	return out
}

// writeCase is one write of one group (path × token), with its own target.
type writeCase struct {
	spec        writeSpec
	in          string // interaction name with its path prefix (batch-, transaction-)
	target      string // id addressed
	victimOwner string // a stored target's owner ("" for none)
	deleted     bool   // the stored target is deleted
	cond        string // condition (If-None-Exist, conditional update/delete)
	marker      string
	body        map[string]any
	want        want
	got         *response
	entry       int // index in its batch
}

// writeWant is the rule for one write.
func (m *matrix) writeWant(k *matrixToken, s writeSpec, fix fixtureRes) want {
	refused := want{statuses: []int{http.StatusForbidden, http.StatusNotFound}, desc: "refused, store unchanged"}
	none := func(codes ...int) want { return want{statuses: codes, desc: "store unchanged"} }
	if s.in == "patch" {
		return none(http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed) // not supported
	}
	if k.reach == reachAnon {
		return none(http.StatusUnauthorized)
	}
	need := map[string]string{"create": "c", "delete": "d", "cond-create": "cs", "cond-update": "us",
		"cond-delete": "ds", "chain-cond-create": "cs", "update": "u"}[s.in]
	if s.in == "update" && s.target != "live" {
		need = "c"
	}
	if !k.has(need) {
		return none(http.StatusForbidden)
	}
	if k.reach == reachNothing {
		if strings.HasSuffix(s.in, "delete") {
			return none(http.StatusForbidden, http.StatusNotFound, http.StatusNoContent)
		}
		return refused
	}
	content := m.other
	if s.content == "me" {
		content = m.me
	}
	live, targetOwner := s.target == "live", map[string]string{"me": m.me, "other": m.other}[s.owner]
	if s.target == "fixture" {
		live, targetOwner = fix.exists && !fix.deleted, fix.owner
	}
	targetReached := m.reached(k, targetOwner)
	match := live && targetReached
	created := want{statuses: []int{http.StatusCreated}, effect: effCreate, desc: "a new resource of Patient/" + content}
	put := func(code int) want {
		return want{statuses: []int{code}, effect: effPut, desc: "stored at the target, of Patient/" + content}
	}
	switch s.in {
	case "create":
		if m.reached(k, content) {
			return created
		}
		return refused
	case "update":
		switch {
		case s.target != "new" && !targetReached, !m.reached(k, content):
			return refused
		case live:
			return put(http.StatusOK)
		}
		return put(http.StatusCreated)
	case "delete":
		switch {
		case live && targetReached:
			return want{statuses: []int{http.StatusNoContent}, effect: effDelete, desc: "deleted"}
		case live:
			return none(http.StatusNoContent) // as for an id that never existed: no existence oracle
		case s.target == "deleted" && !targetReached:
			return none(http.StatusNoContent, http.StatusForbidden, http.StatusNotFound)
		}
		return none(http.StatusNoContent)
	case "cond-create", "chain-cond-create":
		switch {
		case s.in == "chain-cond-create" && !k.wild:
			return none(http.StatusForbidden) // no search scope on the chain's Patient
		case match:
			return none(http.StatusOK)
		case m.reached(k, content):
			return created
		}
		return refused
	case "cond-update":
		switch {
		case !m.reached(k, content):
			return refused
		case match:
			return put(http.StatusOK)
		}
		return created
	case "cond-delete":
		if match {
			return want{statuses: []int{http.StatusNoContent}, effect: effDelete, desc: "deleted"}
		}
		return none(http.StatusNoContent)
	}
	panic("no rule for " + s.in)
}

// writeCases builds the group's cases, each with its own target.
func (m *matrix) writeCases(k *matrixToken, group string) []*writeCase {
	var out []*writeCase
	n := 0
	for _, via := range []string{"", "batch-", "transaction-"} {
		for _, s := range writeSpecs() {
			if s.in == "patch" && via != "" {
				continue // a Bundle has no PATCH entry of JSON Patch
			}
			n++
			c := &writeCase{spec: s, in: via + s.in, marker: fmt.Sprintf("c%d", n)}
			var fix fixtureRes
			if s.target == "fixture" {
				for _, f := range m.fixtures {
					if f.label == s.label {
						fix = f
					}
				}
			}
			c.want = m.writeWant(k, s, fix)
			switch s.target {
			case "live", "deleted":
				// Every write gets a target of its own, except where the
				// token may not write at all, and conditional writes that
				// must leave OTHER's resource alone: they share one per
				// state (one that changes it anyway is found by its marker,
				// and the conditions after it still match nothing).
				c.target = fmt.Sprintf("s9v-%s-%d", group, n)
				if c.want.effect == effNone && (!k.writes() || s.owner == "other" && strings.HasPrefix(s.in, "cond-")) {
					c.target = fmt.Sprintf("s9v-%s-%s-%s", group, s.owner, s.target)
				}
				c.victimOwner = map[string]string{"me": m.me, "other": m.other}[s.owner]
				c.deleted = s.target == "deleted"
			case "new":
				c.target = fmt.Sprintf("s9n-%s-%d", group, n)
			case "fixture":
				c.target = fix.id
			}
			c.cond = "identifier=" + url.QueryEscape("urn:sec9:v:"+group+"|"+c.target)
			if s.in == "chain-cond-create" {
				c.cond = m.chainQuery(fix)
			}
			if s.content != "" {
				owner := m.other
				if s.content == "me" {
					owner = m.me
				}
				extra := map[string]any{"identifier": identifier("urn:sec9:w:"+group, c.marker)}
				if s.content == "other-performer-me" {
					extra["performer"] = []any{ref("Patient/" + m.me)}
				}
				id := ""
				if s.in == "update" {
					id = c.target
				}
				c.body = matrixObservation(id, owner, "activity", extra)
			}
			out = append(out, c)
		}
	}
	return out
}

// storeVictims stores the group's targets as the administrator.
func (m *matrix) storeVictims(t *testing.T, group string, cases []*writeCase) {
	var puts, dels []map[string]any
	seen := map[string]bool{}
	for _, c := range cases {
		if c.victimOwner == "" || seen[c.target] {
			continue
		}
		seen[c.target] = true
		o := matrixObservation(c.target, c.victimOwner, "activity", map[string]any{"identifier": identifier("urn:sec9:v:"+group, c.target)})
		puts = append(puts, bundleEntry("PUT", "Observation/"+c.target, o, ""))
		if c.deleted {
			dels = append(dels, bundleEntry("DELETE", "Observation/"+c.target, nil, ""))
		}
	}
	m.adminBundle(t, puts...)
	m.adminBundle(t, dels...)
}

// request is the case's plain request (URL relative to the FHIR base).
func (c *writeCase) request() (method, u string, hdr http.Header, body any) {
	switch c.spec.in {
	case "create":
		return "POST", "Observation", nil, c.body
	case "update":
		return "PUT", "Observation/" + c.target, nil, c.body
	case "delete":
		return "DELETE", "Observation/" + c.target, nil, nil
	case "patch":
		return "PATCH", "Observation/" + c.target, http.Header{"Content-Type": {"application/json-patch+json"}},
			`[{"op":"replace","path":"/status","value":"amended"}]`
	case "cond-create", "chain-cond-create":
		return "POST", "Observation", http.Header{"If-None-Exist": {c.cond}}, c.body
	case "cond-update":
		return "PUT", "Observation?" + c.cond, nil, c.body
	case "cond-delete":
		return "DELETE", "Observation?" + c.cond, nil, nil
	}
	panic(c.spec.in)
}

// bundleEntry is the case as a batch or transaction entry.
func (c *writeCase) bundleEntry() map[string]any {
	method, u, hdr, body := c.request()
	var res map[string]any
	if b, ok := body.(map[string]any); ok {
		res = b
	}
	return bundleEntry(method, u, res, hdr.Get("If-None-Exist"))
}

// storeState is what the administrator reads back after a group's writes.
type storeState struct {
	victims map[string]map[string]any   // id → current resource still holding its target identifier
	marked  map[string][]map[string]any // marker → current resources holding it
}

func (m *matrix) readBack(t *testing.T, group string) *storeState {
	st := &storeState{victims: map[string]map[string]any{}, marked: map[string][]map[string]any{}}
	for _, sys := range []string{"urn:sec9:v:" + group, "urn:sec9:w:" + group} {
		r := m.h.fhirRequest(t, "GET", m.h.baseA+"/fhir/Observation?identifier="+url.QueryEscape(sys+"|")+"&_count=1000", m.admin, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("read back %s: %d %.300s", sys, r.status, r.body)
		}
		_, res := entries(r.json, "match")
		for _, o := range res {
			ids, _ := o["identifier"].([]any)
			for _, i := range ids {
				im, _ := i.(map[string]any)
				if im["system"] != sys {
					continue
				}
				v, _ := im["value"].(string)
				if strings.HasPrefix(sys, "urn:sec9:v:") {
					st.victims[v] = o
				} else {
					st.marked[v] = append(st.marked[v], o)
				}
			}
		}
	}
	return st
}

func subjectOf(o map[string]any) string {
	s, _ := o["subject"].(map[string]any)
	r, _ := s["reference"].(string)
	return r
}

func versionOf(o map[string]any) string {
	meta, _ := o["meta"].(map[string]any)
	v, _ := meta["versionId"].(string)
	return v
}

// storeCheck compares the store with the case's effect; "" when right.
func (m *matrix) storeCheck(c *writeCase, st *storeState) string {
	var problems []string
	marked := st.marked[c.marker]
	var at []string
	for _, o := range marked {
		at = append(at, fmt.Sprintf("Observation/%v v%s of %s", o["id"], versionOf(o), subjectOf(o)))
	}
	owner := "Patient/" + m.other
	if c.spec.content == "me" {
		owner = "Patient/" + m.me
	}
	switch c.want.effect {
	case effNone, effDelete:
		if len(marked) > 0 {
			problems = append(problems, fmt.Sprintf("stored %v", at))
		}
	case effPut:
		wantVersion := map[string]string{"live": "2", "deleted": "3", "new": "1"}[c.spec.target]
		if len(marked) != 1 || marked[0]["id"] != c.target || subjectOf(marked[0]) != owner || versionOf(marked[0]) != wantVersion {
			problems = append(problems, fmt.Sprintf("stored %v, want Observation/%s v%s of %s", at, c.target, wantVersion, owner))
		}
	case effCreate:
		if len(marked) != 1 || marked[0]["id"] == c.target || subjectOf(marked[0]) != owner {
			problems = append(problems, fmt.Sprintf("stored %v, want one new resource of %s", at, owner))
		}
	}
	changedByOther := false // a shared target holds another case's content: that case is blamed
	for marker, list := range st.marked {
		for _, o := range list {
			changedByOther = changedByOther || marker != c.marker && o["id"] == c.target
		}
	}
	if c.victimOwner != "" && c.want.effect != effPut && !changedByOther {
		v, present := st.victims[c.target]
		switch {
		case c.want.effect == effDelete && present:
			problems = append(problems, "target not deleted")
		case c.want.effect != effDelete && c.deleted && present:
			problems = append(problems, fmt.Sprintf("deleted target of Patient/%s stored again (v%s)", c.victimOwner, versionOf(v)))
		case c.want.effect != effDelete && !c.deleted && (!present || versionOf(v) != "1"):
			problems = append(problems, fmt.Sprintf("target of Patient/%s changed (now v%s, or not current)", c.victimOwner, versionOf(v)))
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return "store: " + strings.Join(problems, "; ")
}

// runWrites stores the group's targets, sends every write, reads the
// store back as the administrator and then checks each case.
func (m *matrix) runWrites(t *testing.T, p enforcementPath, k *matrixToken, group string) {
	h := m.h
	cases := m.writeCases(k, group)
	m.storeVictims(t, group, cases)
	batches := map[string][]*writeCase{}
	for _, c := range cases {
		switch {
		case strings.HasPrefix(c.in, "batch-"):
			c.entry = len(batches[c.in])
			batches[c.in] = append(batches[c.in], c)
		case strings.HasPrefix(c.in, "transaction-"):
			c.got = h.fhirRequest(t, "POST", p.base, k.token, bundleOf("transaction", c.bundleEntry()), nil)
		default:
			method, u, hdr, body := c.request()
			c.got = h.fhirRequest(t, method, p.base+"/"+u, k.token, body, hdr)
		}
	}
	for _, in := range slices.Sorted(maps.Keys(batches)) {
		var es []map[string]any
		for _, c := range batches[in] {
			es = append(es, c.bundleEntry())
		}
		r := h.fhirRequest(t, "POST", p.base, k.token, bundleOf("batch", es...), nil)
		for _, c := range batches[in] {
			c.got = r
		}
	}
	st := m.readBack(t, group)
	for _, c := range cases {
		t.Run(c.in+"/"+c.spec.label, func(t *testing.T) {
			var got string
			switch {
			case strings.HasPrefix(c.in, "batch-"):
				got = checkBatch(k, c.want, c.got, c.entry)
			case strings.HasPrefix(c.in, "transaction-"):
				got = checkTransaction(c.want, c.got)
			default:
				got = c.want.check(c.got)
			}
			if sc := m.storeCheck(c, st); sc != "" {
				got = strings.TrimPrefix(got+"; "+sc, "; ")
			}
			if got != "" {
				t.Errorf("path=%s token=%s interaction=%s resource=%s: want %s; got %s", p.name, k.name, c.in, c.spec.label, c.want, got)
			}
		})
	}
}
