package certificates_test

// The /admin/certificates page over a real SQLite file (S13, C19): the
// allow-list (add a pasted PEM, refuse a private key without storing or
// echoing it, refuse garbage and duplicates, remove after a confirmation
// with the CSRF token), the policy shown per case, and the anonymous
// account's scopes; administrators only.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate"
	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz/certauth"
	"github.com/smartgate/smartgate/authz/clientcert"
	"github.com/smartgate/smartgate/store/sqlite"
	"github.com/smartgate/smartgate/web"
	"github.com/smartgate/smartgate/web/certificates"
)

const password = "correct horse battery"

type env struct {
	t     *testing.T
	db    *sqlite.DB
	ts    *httptest.Server
	users map[string]string // user name → id
}

// syncAudit writes each record at once (the server batches them).
type syncAudit struct{ db *sqlite.DB }

func (a syncAudit) Record(ctx context.Context, ev audit.Event) {
	a.db.InsertAudit(ctx, []audit.Event{ev})
}

func newEnv(t *testing.T, policy clientcert.Policy) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "smartgate.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hasher := account.NewHasher(account.Params{Memory: 64, Time: 1, Threads: 1}, 4)
	hash, err := hasher.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, users: map[string]string{}}
	for _, u := range []*account.User{
		{UserName: "root", DisplayName: "Root", Roles: []string{account.RoleAdmin}},
		{UserName: "doc", DisplayName: "Dr. Doc", FHIRUser: "Practitioner/d1", Roles: []string{account.RolePractitioner}},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		e.users[u.UserName] = u.ID
	}
	assets := smartgate.Assets("")
	pages, err := web.New(ctx, web.Config{Assets: assets, Store: db,
		Passwords: account.NewAuthenticator(db, hasher, account.NewThrottle(account.ThrottleConfig{}))})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := certificates.New(certificates.Config{Pages: pages, Store: db, Anonymous: certauth.NewAnonymous(db), Assets: assets,
		Audit: syncAudit{db}, Policy: policy, HTTPS: true, ClientCA: "/etc/smartgate/clients-ca.pem", ClientCASubjects: []string{"CN=Clinic CA"},
		CertHeader: "X-Client-Cert", TrustedProxies: []string{"10.0.0.1/32"},
		UserName: func(ctx context.Context, id string) string {
			if u, err := db.User(ctx, id); err == nil {
				return u.UserName
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	pages.Register(mux)
	cp.Register(mux)
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)
	return e
}

type browser struct {
	e *env
	c *http.Client
}

type resp struct {
	status int
	loc    string
	body   string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) resp {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer r.Body.Close()
	out, _ := io.ReadAll(r.Body)
	return resp{status: r.StatusCode, loc: r.Header.Get("Location"), body: string(out)}
}

func (b *browser) get(path string) resp { return b.do(http.MethodGet, path, nil) }

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

func (e *env) login(user string) *browser {
	e.t.Helper()
	b := e.browser()
	page := b.get("/login")
	r := b.do(http.MethodPost, "/login", url.Values{"csrf_token": {csrfOf(e.t, page.body)}, "username": {user}, "password": {password}})
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return b
}

// submit loads page for its CSRF token and posts form to action.
func (b *browser) submit(page, action string, form url.Values) resp {
	b.e.t.Helper()
	p := b.get(page)
	if p.status != http.StatusOK {
		b.e.t.Fatalf("GET %s: %d", page, p.status)
	}
	form.Set("csrf_token", csrfOf(b.e.t, p.body))
	return b.do(http.MethodPost, action, form)
}

// newCert makes a certificate signed by itself, or by parent with its key.
func newCert(t *testing.T, cn string, edit func(*x509.Certificate)) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func (e *env) audits(kind string) []audit.Event {
	e.t.Helper()
	evs, err := e.db.AuditEvents(context.Background(), audit.Filter{Kind: kind, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func rowOf(t *testing.T, body, fp string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="certificate-` + fp + `".*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("no row of %s:\n%s", fp, body)
	}
	return m
}

func TestS13_CertificatesPageAdministratorsOnly(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.browser().get(certificates.Path); r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login") {
		t.Errorf("not logged in: %d %s", r.status, r.loc)
	}
	doc := e.login("doc")
	if r := doc.get(certificates.Path); r.status != http.StatusForbidden {
		t.Errorf("a practitioner's GET: %d", r.status)
	}
	_, certPEM, _ := newCert(t, "doc's", nil)
	// Any token the practitioner has (a page they may open) does not help.
	r := doc.do(http.MethodPost, certificates.Path, url.Values{"pem": {certPEM}})
	if r.status != http.StatusForbidden {
		t.Errorf("a practitioner's POST: %d", r.status)
	}
	if r := doc.do(http.MethodPost, certificates.Path+"/anonymous", url.Values{"scopes": {"system/*.cruds"}}); r.status != http.StatusForbidden {
		t.Errorf("a practitioner's anonymous scopes: %d", r.status)
	}
	if list, _ := e.db.TrustedCertificates(context.Background()); len(list) != 0 {
		t.Errorf("stored %v", list)
	}
	if r := e.login("root").get(certificates.Path); r.status != http.StatusOK || !strings.Contains(r.body, `aria-current="page">Certificates</a>`) {
		t.Errorf("the administrator's page: %d\n%s", r.status, r.body)
	}
}

func TestS13_AddListRemove(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	cert, certPEM, _ := newCert(t, "Lab analyser 7", nil)
	fp := clientcert.Fingerprint(cert)
	// Without the CSRF token (C19): refused, nothing stored.
	if r := root.do(http.MethodPost, certificates.Path, url.Values{"pem": {certPEM}}); r.status != http.StatusForbidden {
		t.Errorf("add without the CSRF token: %d", r.status)
	}
	if list, _ := e.db.TrustedCertificates(context.Background()); len(list) != 0 {
		t.Fatalf("stored without a CSRF token: %v", list)
	}

	r := root.submit(certificates.Path, certificates.Path, url.Values{"pem": {"Certificate:\n  Data: …\n" + certPEM}, "note": {"ticket 42"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	got, err := e.db.TrustedCertificate(context.Background(), fp)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "CN=Lab analyser 7" || got.Note != "ticket 42" || got.AddedBy != e.users["root"] || got.PEM != certPEM || got.AddedAt.IsZero() {
		t.Errorf("stored %+v", got)
	}
	page := root.get(r.loc)
	if !strings.Contains(page.body, "Added CN=Lab analyser 7") {
		t.Errorf("no confirmation: %s", page.body)
	}
	row := rowOf(t, page.body, fp)
	for _, want := range []string{"CN=Lab analyser 7", clientcert.GroupFingerprint(fp), "ticket 42", ">root<", cert.NotAfter.UTC().Format("2006-01-02 15:04")} {
		if !strings.Contains(row, want) {
			t.Errorf("row lacks %q: %s", want, row)
		}
	}
	if strings.Contains(row, "data-expired") {
		t.Errorf("a valid certificate marked expired: %s", row)
	}
	if evs := e.audits("certificate"); len(evs) != 1 || evs[0].Action != "add" || evs[0].Actor != e.users["root"] ||
		evs[0].Resource != "TrustedCertificate/"+fp || evs[0].Outcome != audit.Success {
		t.Errorf("audit %+v", evs)
	}

	// Duplicate: refused, saying so.
	r = root.submit(certificates.Path, certificates.Path, url.Values{"pem": {certPEM}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "on the allow-list already") || !strings.Contains(r.body, "added by root") {
		t.Errorf("duplicate: %d %s", r.status, r.body)
	}

	// Remove: a confirmation page, then a POST that needs the CSRF token.
	conf := root.get(certificates.Path + "/" + fp + "/remove")
	if conf.status != http.StatusOK || !strings.Contains(conf.body, `value="remove"`) || !strings.Contains(conf.body, clientcert.GroupFingerprint(fp)) {
		t.Fatalf("confirmation: %d %s", conf.status, conf.body)
	}
	if r := root.do(http.MethodPost, certificates.Path+"/"+fp+"/remove", url.Values{"confirm": {"remove"}}); r.status != http.StatusForbidden {
		t.Errorf("remove without the CSRF token: %d", r.status)
	}
	if r := root.do(http.MethodPost, certificates.Path+"/"+fp+"/remove", url.Values{"confirm": {"remove"}, "csrf_token": {"forged"}}); r.status != http.StatusForbidden {
		t.Errorf("remove with a wrong CSRF token: %d", r.status)
	}
	if _, err := e.db.TrustedCertificate(context.Background(), fp); err != nil {
		t.Fatalf("removed without a token: %v", err)
	}
	// The fingerprint as people type it (grouped) names the same entry.
	r = root.do(http.MethodPost, certificates.Path+"/"+url.PathEscape(clientcert.GroupFingerprint(fp))+"/remove",
		url.Values{"confirm": {"remove"}, "csrf_token": {csrfOf(t, conf.body)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if list, _ := e.db.TrustedCertificates(context.Background()); len(list) != 0 {
		t.Errorf("still listed: %v", list)
	}
	if page := root.get(r.loc); !strings.Contains(page.body, "Removed "+clientcert.GroupFingerprint(fp)) || !strings.Contains(page.body, "data-certificates-none") {
		t.Errorf("after removal: %s", page.body)
	}
	if evs := e.audits("certificate"); len(evs) != 2 || evs[0].Action != "remove" && evs[1].Action != "remove" {
		t.Errorf("audit %+v", evs)
	}
	if r := root.get(certificates.Path + "/" + fp + "/remove"); r.status != http.StatusNotFound {
		t.Errorf("confirmation of a removed entry: %d", r.status)
	}
	if r := root.get(certificates.Path + "/not-hex/remove"); r.status != http.StatusNotFound {
		t.Errorf("confirmation of garbage: %d", r.status)
	}
}

func TestS13_AddRefusals(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	_, certPEM, keyPEM := newCert(t, "with key", nil)
	_, otherPEM, _ := newCert(t, "other", nil)
	_, expiredPEM, _ := newCert(t, "old", func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour)
	})
	keyBody := strings.Split(keyPEM, "\n")[1] // a line of the key's base64

	for _, tt := range []struct {
		name, text, want string
	}{
		{"private key", keyPEM, "private key"},
		{"certificate and its key", certPEM + keyPEM, "private key"},
		{"garbage", "<script>alert(1)</script> not a certificate", "no PEM certificate"},
		{"chain", certPEM + otherPEM, "more than one certificate"},
		{"expired", expiredPEM, "expired"},
		{"request", strings.ReplaceAll(certPEM, "CERTIFICATE", "CERTIFICATE REQUEST"), "not a certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := root.submit(certificates.Path, certificates.Path, url.Values{"pem": {tt.text}, "note": {"n"}})
			if r.status != http.StatusBadRequest || !strings.Contains(r.body, "data-add-error") || !strings.Contains(r.body, tt.want) {
				t.Fatalf("%d, want 400 saying %q:\n%s", r.status, tt.want, r.body)
			}
			if strings.Contains(r.body, keyBody) || strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "BEGIN CERTIFICATE-----\nMII") {
				t.Errorf("the pasted text is shown back:\n%s", r.body)
			}
			if list, _ := e.db.TrustedCertificates(context.Background()); len(list) != 0 {
				t.Errorf("stored %v", list)
			}
		})
	}
	// A refused key is audited (without the key), and nothing else about it.
	evs := e.audits("certificate")
	n := 0
	for _, ev := range evs {
		if ev.Outcome == audit.Success {
			t.Errorf("a success recorded: %+v", ev)
		}
		if strings.Contains(ev.Detail, "private key") {
			n++
		}
		if strings.Contains(ev.Detail+ev.Resource, keyBody) {
			t.Errorf("the key in the audit: %+v", ev)
		}
	}
	if n != 2 {
		t.Errorf("%d private-key refusals audited, want 2: %+v", n, evs)
	}
}

func TestS13_NoteAndSubjectInert(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	cert, certPEM, _ := newCert(t, `<img src=x onerror=alert(1)>`, nil)
	r := root.submit(certificates.Path, certificates.Path, url.Values{"pem": {certPEM}, "note": {`<b onclick="x()">bold</b>`}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	page := root.get(certificates.Path)
	row := rowOf(t, page.body, clientcert.Fingerprint(cert))
	if strings.Contains(page.body, "<b onclick") || strings.Contains(page.body, "<img src=x") {
		t.Fatalf("markup rendered live:\n%s", row)
	}
	if !strings.Contains(row, "&lt;b onclick=&#34;x()&#34;&gt;bold&lt;/b&gt;") || !strings.Contains(row, "&lt;img src=x onerror=alert(1)") {
		t.Errorf("note or subject not shown as text: %s", row)
	}
}

func TestS13_ExpiredEntryMarkedAndCAWarned(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	// An entry that expired since it was added (stored directly: the page
	// refuses an expired certificate).
	_, oldPEM, _ := newCert(t, "since expired", nil)
	tc, err := clientcert.ParseTrusted(oldPEM, "", e.users["root"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tc.NotAfter = time.Now().Add(-time.Minute)
	if err := e.db.AddTrustedCertificate(context.Background(), tc); err != nil {
		t.Fatal(err)
	}
	if row := rowOf(t, root.get(certificates.Path).body, tc.Fingerprint); !strings.Contains(row, "data-expired") || !strings.Contains(row, ">expired<") {
		t.Errorf("expired entry not marked: %s", row)
	}
	// A CA certificate is accepted with a warning.
	ca, caPEM, _ := newCert(t, "Some CA", func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
	})
	r := root.submit(certificates.Path, certificates.Path, url.Values{"pem": {caPEM}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("add a CA: %d %s", r.status, r.body)
	}
	if page := root.get(r.loc); !strings.Contains(page.body, "data-warning") || !strings.Contains(page.body, "CA certificate") ||
		!strings.Contains(page.body, clientcert.Fingerprint(ca)) {
		t.Errorf("no CA warning: %s", page.body)
	}
}

func TestS13_PolicyShown(t *testing.T) {
	policy, err := clientcert.ParsePolicy("no_certificate=limit,unknown_certificate=reject,bad_jwt=reject")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, policy)
	page := e.login("root").get(certificates.Path)
	for c, a := range map[string]string{"no_certificate": "limit", "unknown_certificate": "reject", "no_jwt": "allow", "bad_jwt": "reject"} {
		if !strings.Contains(page.body, `data-policy-case="`+c+`" data-action="`+a+`"`) {
			t.Errorf("case %s is not shown as %s", c, a)
		}
	}
	for _, want := range []string{policy.String(), `data-client-ca="on"`, "CN=Clinic CA", `data-cert-header="on"`, "X-Client-Cert", "10.0.0.1/32",
		"served as the built-in anonymous account", "401 with WWW-Authenticate"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestS13_AnonymousScopes(t *testing.T) {
	e := newEnv(t, nil)
	root := e.login("root")
	anon := certauth.NewAnonymous(e.db)
	page := root.get(certificates.Path)
	if !strings.Contains(page.body, `name="scopes" value="`+certauth.DefaultAnonymousScopes+`"`) {
		t.Errorf("default scopes not shown:\n%s", page.body)
	}
	r := root.submit(certificates.Path, certificates.Path+"/anonymous", url.Values{"scopes": {"  system/Organization.rs \n system/Practitioner.r "}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("set scopes: %d %s", r.status, r.body)
	}
	if got, _ := anon.Scopes(context.Background()); got != "system/Organization.rs system/Practitioner.r" {
		t.Errorf("stored %q", got)
	}
	if page := root.get(r.loc); !strings.Contains(page.body, "scopes are saved") || !strings.Contains(page.body, `value="system/Organization.rs system/Practitioner.r"`) {
		t.Errorf("after saving: %s", page.body)
	}
	if evs := e.audits("anonymous"); len(evs) != 1 || evs[0].Scopes != "system/Organization.rs system/Practitioner.r" || evs[0].Actor != e.users["root"] {
		t.Errorf("audit %+v", evs)
	}
	// A bad scope: refused, shown (escaped) in the page, nothing changed.
	r = root.submit(certificates.Path, certificates.Path+"/anonymous", url.Values{"scopes": {`system/*.rs system/<i>.rs`}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "data-scopes-error") || !strings.Contains(r.body, "not a SMART scope") {
		t.Fatalf("bad scope: %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, "<i>") || !strings.Contains(r.body, "system/&lt;i&gt;.rs") {
		t.Error("the bad scope is rendered as markup")
	}
	if got, _ := anon.Scopes(context.Background()); got != "system/Organization.rs system/Practitioner.r" {
		t.Errorf("changed by a refused form: %q", got)
	}
	// Without the CSRF token: refused.
	if r := root.do(http.MethodPost, certificates.Path+"/anonymous", url.Values{"scopes": {""}}); r.status != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d", r.status)
	}
	// Empty: the anonymous account may do nothing.
	if r := root.submit(certificates.Path, certificates.Path+"/anonymous", url.Values{"scopes": {""}}); r.status != http.StatusSeeOther {
		t.Fatalf("empty scopes: %d", r.status)
	}
	if got, err := anon.Scopes(context.Background()); got != "" || err != nil {
		t.Errorf("empty scopes stored as %q, %v", got, err)
	}
}
