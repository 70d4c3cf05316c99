package link_test

// Regression tests of the security review of issue 12: pre-hijacking an
// account by an email nobody vouched for, and the accounts trusted email
// never links.

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/idp/link"
)

// hashedName is the user name provisioning gives the identity (issuer,
// subject) of provider id when its email is not vouched for.
func hashedName(id, iss, sub string) string {
	h := sha256.Sum256([]byte(iss + "\n" + sub))
	return id + "-" + hex.EncodeToString(h[:])[:12]
}

// mustResolve is Resolve that fails the test on an error.
func (e *env) mustResolve(p idp.Provider, id idp.Identity) link.Outcome {
	e.t.Helper()
	out, err := e.linker.Resolve(e.ctx, p, id)
	if err != nil {
		e.t.Fatalf("Resolve(%s, %s): %v", p.ID, id.Subject, err)
	}
	return out
}

// An attacker provisions an account through an untrusted provider with the
// victim's (unverified) email; the victim's later verified log-in through
// a trusted_email provider must not land in it.
func TestReview12PreHijackByUnverifiedEmail(t *testing.T) {
	e := newEnv(t, nil)
	untrusted := idp.Provider{ID: "fb", Issuer: idp.FacebookIssuer, Provisioning: idp.ProvisionAuto}
	trusted := idp.Provider{ID: "google", Issuer: idp.GoogleIssuer, Provisioning: idp.ProvisionAuto, TrustedEmail: true}
	attacker := idp.Identity{Issuer: idp.FacebookIssuer, Subject: "attacker-fb", Email: "Victim@Example.com", EmailVerified: false}
	out := e.mustResolve(untrusted, attacker)
	if out.User == nil || !out.Provisioned {
		t.Fatalf("attacker provision: %+v", out)
	}
	u, err := e.db.User(e.ctx, out.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Emails) != 0 || u.UserName != hashedName("fb", idp.FacebookIssuer, "attacker-fb") {
		t.Fatalf("account provisioned for an unvouched email: user name %q, emails %+v; want the hashed name, no email", u.UserName, u.Emails)
	}
	if ls := e.links(u.ID); len(ls) != 1 || ls[0].Email != "Victim@Example.com" {
		t.Fatalf("links %+v: want the email kept on the link", ls)
	}
	victim := idp.Identity{Issuer: idp.GoogleIssuer, Subject: "victim-g", Email: "victim@example.com", EmailVerified: true}
	out2 := e.mustResolve(trusted, victim)
	if out2.User == nil || out2.User.ID == u.ID || out2.LinkedByEmail || !out2.Provisioned {
		t.Fatalf("victim's Google identity: %+v; want a new account of its own, not the attacker's %s", out2, u.ID)
	}
	if out2.User.UserName != "victim@example.com" || len(out2.User.Emails) != 1 || out2.User.Emails[0].Value != "victim@example.com" {
		t.Fatalf("account of a trusted verified email: %q %+v; want the email as user name and email", out2.User.UserName, out2.User.Emails)
	}
}

// The same provider, trusted_email and auto: an attacker signs up upstream
// with the victim's address, unverified.
func TestReview12PreHijackSameProvider(t *testing.T) {
	e := newEnv(t, nil)
	p := idp.Provider{ID: "kc", Issuer: issuer, Provisioning: idp.ProvisionAuto, TrustedEmail: true}
	out := e.mustResolve(p, idp.Identity{Issuer: issuer, Subject: "a", Email: "v@example.com"})
	if out.User == nil || len(out.User.Emails) != 0 {
		t.Fatalf("attacker's account %+v: want one without email", out.User)
	}
	out2 := e.mustResolve(p, idp.Identity{Issuer: issuer, Subject: "v", Email: "v@example.com", EmailVerified: true})
	if out2.User == nil || out2.User.ID == out.User.ID {
		t.Fatalf("victim linked into the attacker's account")
	}
}

// A verified email from an untrusted provider is no user name and does not
// go on the account either.
func TestReview12UntrustedVerifiedEmailNotKept(t *testing.T) {
	e := newEnv(t, nil)
	out := e.mustResolve(provider("op", idp.ProvisionAuto, false), identity("s1", "ada@example.org", true))
	if out.User == nil || out.User.UserName != hashedName("op", issuer, "s1") || len(out.User.Emails) != 0 {
		t.Fatalf("provisioned %+v; want the hashed name and no email", out.User)
	}
	if u, err := e.db.User(e.ctx, out.User.ID); err != nil || len(u.Emails) != 0 {
		t.Fatalf("stored account %+v, %v; want no email", u, err)
	}
}

// (5a) A second subject of the same issuer with the same verified email
// (an address the provider gave to someone else) is not linked by email
// into the account that holds the first subject, even one with a password.
func TestReview12SecondSubjectSameIssuerNotLinkedByEmail(t *testing.T) {
	e := newEnv(t, nil)
	p := idp.Provider{ID: "corp", Issuer: issuer, Provisioning: idp.ProvisionInvite, TrustedEmail: true}
	u := &account.User{UserName: "olduser", Active: true, Emails: []account.Email{{Value: "jo@corp.example", Primary: true}}}
	if err := e.people.Create(e.ctx, u, "a long local password 0123"); err != nil {
		t.Fatal(err)
	}
	if err := e.linker.Link(e.ctx, u.ID, p, idp.Identity{Issuer: issuer, Subject: "emp-1", Email: "jo@corp.example", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	second := idp.Identity{Issuer: issuer, Subject: "emp-2", Email: "jo@corp.example", EmailVerified: true}
	out := e.mustResolve(p, second)
	if !out.NeedsAccount || out.User != nil {
		t.Fatalf("a second subject of %s: %+v; want NeedsAccount", issuer, out)
	}
	e.noLink(second)
}

// (5b) Trusted email never links an account that may act for others: a
// practitioner, directly or through a group, as well as an administrator.
func TestReview12TrustedEmailOfAPractitioner(t *testing.T) {
	e := newEnv(t, nil)
	p := provider("op", idp.ProvisionInvite, true)
	doc := e.person("doc", "doc@example.org", account.RolePractitioner)
	viaGroup := e.person("nurse", "nurse@example.org", account.RolePatient)
	g := &account.Group{DisplayName: "Clinicians", Roles: []string{account.RolePractitioner}, Members: []account.Member{{Value: viaGroup.ID}}}
	if err := e.people.CreateGroup(e.ctx, g); err != nil {
		t.Fatal(err)
	}
	for _, who := range []*account.User{doc, viaGroup} {
		id := identity("sub-"+who.UserName, who.Emails[0].Value, true)
		if out := e.mustResolve(p, id); !out.NeedsAccount || out.User != nil {
			t.Fatalf("trusted email of practitioner %s: %+v; want NeedsAccount", who.UserName, out)
		}
		e.noLink(id)
		if err := e.linker.Link(e.ctx, who.ID, p, id); err != nil {
			t.Fatalf("Link by practitioner %s: %v", who.UserName, err)
		}
	}
}

// An account without a password that holds a link (its only way in is a
// provider), such as one provisioned before the review's fix with an
// unvouched email, is not linked by trusted email; an account with a
// password and another issuer's link is.
func TestReview12TrustedEmailOfAFederatedOnlyAccount(t *testing.T) {
	e := newEnv(t, nil)
	other := idp.Provider{ID: "other", Issuer: "https://other.example", Provisioning: idp.ProvisionAuto}
	p := provider("op", idp.ProvisionInvite, true)

	legacy := e.person("legacy", "victim@example.org")
	if err := e.linker.Link(e.ctx, legacy.ID, other, idp.Identity{Issuer: other.Issuer, Subject: "x", Email: "victim@example.org"}); err != nil {
		t.Fatal(err)
	}
	victim := identity("victim", "victim@example.org", true)
	if out := e.mustResolve(p, victim); !out.NeedsAccount || out.User != nil {
		t.Fatalf("trusted email of a password-less linked account: %+v; want NeedsAccount", out)
	}
	e.noLink(victim)

	withPassword := &account.User{UserName: "ada", Active: true, Emails: []account.Email{{Value: "ada@example.org", Primary: true}}}
	if err := e.people.Create(e.ctx, withPassword, "a long local password 0123"); err != nil {
		t.Fatal(err)
	}
	if err := e.linker.Link(e.ctx, withPassword.ID, other, idp.Identity{Issuer: other.Issuer, Subject: "ada-other"}); err != nil {
		t.Fatal(err)
	}
	out := e.mustResolve(p, identity("ada", "ada@example.org", true))
	if out.User == nil || out.User.ID != withPassword.ID || !out.LinkedByEmail {
		t.Fatalf("trusted email of an account with a password and another issuer's link: %+v; want it linked", out)
	}
}

// A trusted verified email that names an account trusted email may not
// link gives NeedsAccount, never a second account with that email.
func TestReview12TrustedEmailOfAnAccountProvisionsNoDuplicate(t *testing.T) {
	e := newEnv(t, nil)
	e.person("boss", "boss@example.org", account.RoleAdmin)
	g := idp.Provider{ID: "google", Issuer: idp.GoogleIssuer, Provisioning: idp.ProvisionAuto, TrustedEmail: true}
	entra := idp.Provider{ID: "entra", Issuer: "https://login.example/tenant/v2.0", Provisioning: idp.ProvisionAuto, TrustedEmail: true}
	before := e.countUsers()
	if out := e.mustResolve(g, idp.Identity{Issuer: idp.GoogleIssuer, Subject: "g-boss", Email: "boss@example.org", EmailVerified: true}); !out.NeedsAccount {
		t.Fatalf("admin's email: %+v", out)
	}
	o1 := e.mustResolve(g, idp.Identity{Issuer: idp.GoogleIssuer, Subject: "g-ann", Email: "ann@example.org", EmailVerified: true})
	if !o1.Provisioned {
		t.Fatalf("first: %+v", o1)
	}
	if out := e.mustResolve(entra, idp.Identity{Issuer: entra.Issuer, Subject: "e-ann", Email: "ann@example.org", EmailVerified: true}); !out.NeedsAccount {
		t.Fatalf("second provider, federated-only account: %+v", out)
	}
	if n := e.countUsers(); n != before+1 {
		t.Fatalf("users %d, want %d", n, before+1)
	}
}
