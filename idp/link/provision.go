package link

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/idp"
	"github.com/smartgate/smartgate/store"
)

// Bounds on what an identity puts into a new account: a provider's claims
// are outside input.
const (
	maxName  = 256
	maxEmail = 254 // RFC 5321's longest path
)

// provision makes the account of id (provisioning auto) through People,
// with the checks of every other path, and links it. Provisioning is
// serialised in the process (first log-ins are rare), so that concurrent
// first log-ins of one identity make one account: the later ones find its
// link. Should another process link the identity meanwhile, its link wins:
// the account made here is dropped and the answer is the winner's.
func (l *Linker) provision(ctx context.Context, p idp.Provider, id idp.Identity) (Outcome, error) {
	l.provisioning.Lock()
	defer l.provisioning.Unlock()
	if out, found, err := l.linked(ctx, id); found || err != nil {
		return out, err
	}
	u := newAccount(p, id)
	var err error
	for _, name := range userNames(p, id) {
		u.ID, u.UserName = "", name
		err = l.cfg.People.Create(ctx, u, "")
		if !errors.Is(err, store.ErrConflict) {
			break
		}
		// The name is taken: perhaps by the account of this identity,
		// made meanwhile.
		if out, found, lerr := l.linked(ctx, id); found || lerr != nil {
			return out, lerr
		}
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("link: provision an account for %s: %w", p.ID, err)
	}
	err = l.createLink(ctx, u.ID, p, id, howAuto)
	if err == nil {
		return Outcome{User: u, Provisioned: true}, nil
	}
	// Nobody has seen the account made a moment ago: it goes unaudited.
	if derr := l.cfg.Store.DeleteUser(ctx, u.ID); derr != nil {
		l.cfg.Logger.ErrorContext(ctx, "link: dropping an account provisioned for a link that failed", "user", u.ID, "err", derr)
	}
	if errors.Is(err, store.ErrConflict) {
		return l.relinked(ctx, id)
	}
	return Outcome{}, err
}

// newAccount is the account provisioning makes for id, without its user
// name: role patient, no fhirUser, no password, the identity's names and,
// only when p vouches for it (trustedEmail), its email (primary). An email
// p does not vouch for stays on the link only (Link.Email, for the pages):
// on the account it would be an address anyone may claim upstream, which
// trusted email would later match.
func newAccount(p idp.Provider, id idp.Identity) *account.User {
	u := &account.User{
		Active: true,
		Roles:  []string{account.RolePatient},
		Name: account.Name{GivenName: clip(id.GivenName, maxName), FamilyName: clip(id.FamilyName, maxName),
			Formatted: clip(id.Name, maxName)},
		DisplayName: clip(id.Name, maxName),
	}
	if e := trustedEmail(p, id); e != "" {
		u.Emails = []account.Email{{Value: e, Primary: true}}
	}
	return u
}

// userNames are the user names provisioning tries, in order: the email
// when p vouches for it (trustedEmail; and it is a valid user name), then
// "{provider}-{the first 12 hex digits of SHA-256(issuer \n subject)}",
// stable for the identity.
func userNames(p idp.Provider, id idp.Identity) []string {
	var out []string
	if e := trustedEmail(p, id); e != "" {
		if n, err := account.NormalizeUserName(e); err == nil {
			out = append(out, n)
		}
	}
	h := sha256.Sum256([]byte(id.Issuer + "\n" + id.Subject))
	return append(out, p.ID+"-"+hex.EncodeToString(h[:])[:12])
}

// trustedEmail is id's email when p vouches for it: p is trusted_email
// and says it verified the email; else "". It is the one rule of which
// email may name a person: the email trusted email links by, and the only
// email (and email user name) an auto-provisioned account gets.
func trustedEmail(p idp.Provider, id idp.Identity) string {
	if !p.TrustedEmail || !id.EmailVerified {
		return ""
	}
	return boundedEmail(id.Email)
}

// boundedEmail is email, or "" when it is longer than any email can be.
func boundedEmail(email string) string {
	if len(email) > maxEmail {
		return ""
	}
	return email
}

// clip is s cut to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
