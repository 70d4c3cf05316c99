package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/store"
)

// LinksBackend is what RunLinks needs: the links, and a way to make,
// deactivate and delete the accounts they hang on.
type LinksBackend interface {
	CreateUser(ctx context.Context, u *account.User) error
	DeactivateUser(ctx context.Context, id string) error
	DeleteUser(ctx context.Context, id string) error
	account.Links
}

// SignInCodesBackend is what RunSignInCodes needs: the codes, and a way to
// make, read, update, deactivate and delete the accounts they are for.
type SignInCodesBackend interface {
	CreateUser(ctx context.Context, u *account.User) error
	User(ctx context.Context, id string) (*account.User, error)
	UpdateUser(ctx context.Context, u *account.User) error
	DeactivateUser(ctx context.Context, id string) error
	DeleteUser(ctx context.Context, id string) error
	account.SignInCodeStore
}

// RunLinks tests the links of federated identities to accounts
// (account.Links): one account per (issuer, subject), the links of one and
// of several accounts, log-in times, deletion by the owner only, and the
// cascade when an account is deleted.
func RunLinks[B LinksBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"CreateAndLookUp", func(t *testing.T, b B) { testLinkCreateLookUp(t, b) }},
		{"OneAccountPerIdentity", func(t *testing.T, b B) { testLinkConflict(t, b) }},
		{"LinksOfUsers", func(t *testing.T, b B) { testLinksOfUsers(t, b) }},
		{"Touch", func(t *testing.T, b B) { testLinkTouch(t, b) }},
		{"DeleteOwnOnly", func(t *testing.T, b B) { testLinkDelete(t, b) }},
		{"GoneWithTheAccount", func(t *testing.T, b B) { testLinkCascade(t, b) }},
	})
}

// RunSignInCodes tests administrator-issued sign-in codes
// (account.SignInCodeStore): single use (also when taken concurrently),
// expiry, deletion per account, and what deactivating or deleting the
// account does to them.
func RunSignInCodes[B SignInCodesBackend](t *testing.T, open func(t *testing.T) B) {
	runOf(t, open, []testOf[B]{
		{"PutTakeOnce", func(t *testing.T, b B) { testSignInCodeTakeOnce(t, b) }},
		{"Expired", func(t *testing.T, b B) { testSignInCodeExpired(t, b) }},
		{"DeletePerAccount", func(t *testing.T, b B) { testSignInCodesDelete(t, b) }},
		{"GoneWhenDeactivatedOrDeleted", func(t *testing.T, b B) { testSignInCodesDeactivate(t, b) }},
		{"ConcurrentTake", func(t *testing.T, b B) { testSignInCodeConcurrentTake(t, b) }},
	})
}

// accountMaker makes the accounts that links and codes hang on.
type accountMaker interface {
	CreateUser(ctx context.Context, u *account.User) error
}

// mustAccount is mustCreateUser for the tests of records hung on accounts.
func mustAccount(t *testing.T, b accountMaker, u *account.User) *account.User {
	t.Helper()
	if err := b.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.UserName, err)
	}
	return u
}

const (
	issuerA = "https://idp-a.example"
	issuerB = "https://idp-b.example"
)

func newLink(issuer, subject, userID string, created time.Time) *account.Link {
	return &account.Link{Issuer: issuer, Subject: subject, UserID: userID, Provider: "prov-" + subject,
		Email: subject + "@idp.example", Created: created}
}

func mustLink(t *testing.T, b account.Links, l *account.Link) {
	t.Helper()
	if err := b.CreateLink(context.Background(), l); err != nil {
		t.Fatalf("CreateLink(%s, %s): %v", l.Issuer, l.Subject, err)
	}
}

func sameLink(t *testing.T, what string, got account.Link, want *account.Link) {
	t.Helper()
	if got.Issuer != want.Issuer || got.Subject != want.Subject || got.UserID != want.UserID ||
		got.Provider != want.Provider || got.Email != want.Email ||
		!SameInstant(got.Created, want.Created) || !SameInstant(got.LastLogin, want.LastLogin) {
		t.Fatalf("%s = %+v, want %+v", what, got, *want)
	}
}

func testLinkCreateLookUp(t *testing.T, b LinksBackend) {
	ctx := context.Background()
	u := mustAccount(t, b, newUser("ada"))
	if _, err := b.LinkOf(ctx, issuerA, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LinkOf(none) = %v, want ErrNotFound", err)
	}
	l := newLink(issuerA, "s1", u.ID, t0)
	mustLink(t, b, l)
	got, err := b.LinkOf(ctx, issuerA, "s1")
	if err != nil {
		t.Fatal(err)
	}
	sameLink(t, "LinkOf", *got, l)
	if !got.LastLogin.IsZero() {
		t.Errorf("LastLogin of a new link = %v, want unset", got.LastLogin)
	}
	// The key is the pair: the same subject at another issuer, or another
	// subject at the same issuer, is another identity.
	for _, k := range [][2]string{{issuerB, "s1"}, {issuerA, "S1"}, {issuerA, "s2"}} {
		if _, err := b.LinkOf(ctx, k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("LinkOf(%s, %s) = %v, want ErrNotFound", k[0], k[1], err)
		}
	}
	// Created is set when the caller leaves it zero.
	before := time.Now().Add(-time.Second)
	l2 := &account.Link{Issuer: issuerB, Subject: "s1", UserID: u.ID, Provider: "b"}
	mustLink(t, b, l2)
	if got, err := b.LinkOf(ctx, issuerB, "s1"); err != nil || got.Created.Before(before) || !SameInstant(got.Created, l2.Created) {
		t.Fatalf("link made without a creation time: %+v, %v; want now, as set in the argument (%v)", got, err, l2.Created)
	}
	links, err := b.LinksOf(ctx, u.ID)
	if err != nil || len(links) != 2 {
		t.Fatalf("LinksOf = %+v, %v; want both", links, err)
	}
	sameLink(t, "LinksOf[0] (oldest first)", links[0], l)
	if links, err := b.LinksOf(ctx, "nobody"); err != nil || len(links) != 0 {
		t.Fatalf("LinksOf(unknown) = %+v, %v; want none", links, err)
	}
	if err := b.CreateLink(ctx, newLink(issuerA, "s9", "nobody", t0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CreateLink to a missing account = %v, want ErrNotFound", err)
	}
}

func testLinkConflict(t *testing.T, b LinksBackend) {
	ctx := context.Background()
	ada := mustAccount(t, b, newUser("ada"))
	bob := mustAccount(t, b, newUser("bob"))
	mustLink(t, b, newLink(issuerA, "s1", ada.ID, t0))
	if err := b.CreateLink(ctx, newLink(issuerA, "s1", bob.ID, t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second link of one identity to another account = %v, want ErrConflict", err)
	}
	if err := b.CreateLink(ctx, newLink(issuerA, "s1", ada.ID, t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second link of one identity to the same account = %v, want ErrConflict", err)
	}
	if got, err := b.LinkOf(ctx, issuerA, "s1"); err != nil || got.UserID != ada.ID {
		t.Fatalf("LinkOf after the refused links = %+v, %v; want ada's", got, err)
	}
	if links, _ := b.LinksOf(ctx, bob.ID); len(links) != 0 {
		t.Fatalf("bob's links = %+v, want none", links)
	}
	// One account may hold several identities.
	mustLink(t, b, newLink(issuerB, "s1", ada.ID, t0.Add(time.Second)))
	mustLink(t, b, newLink(issuerA, "s2", ada.ID, t0.Add(2*time.Second)))
	if links, err := b.LinksOf(ctx, ada.ID); err != nil || len(links) != 3 {
		t.Fatalf("ada's links = %+v, %v; want 3", links, err)
	}
}

func testLinksOfUsers(t *testing.T, b LinksBackend) {
	ctx := context.Background()
	ada := mustAccount(t, b, newUser("ada"))
	bob := mustAccount(t, b, newUser("bob"))
	cy := mustAccount(t, b, newUser("cy"))
	mustLink(t, b, newLink(issuerB, "a2", ada.ID, t0.Add(time.Hour)))
	mustLink(t, b, newLink(issuerA, "a1", ada.ID, t0))
	mustLink(t, b, newLink(issuerA, "b1", bob.ID, t0))
	mustLink(t, b, newLink(issuerA, "c1", cy.ID, t0))
	got, err := b.LinksOfUsers(ctx, []string{ada.ID, bob.ID, "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[ada.ID]) != 2 || len(got[bob.ID]) != 1 {
		t.Fatalf("LinksOfUsers = %+v; want ada's two and bob's one, nothing else", got)
	}
	if a := got[ada.ID]; a[0].Subject != "a1" || a[1].Subject != "a2" {
		t.Errorf("ada's links = %+v, want oldest first", a)
	}
	if l := got[bob.ID][0]; l.Subject != "b1" || l.UserID != bob.ID || !SameInstant(l.Created, t0) {
		t.Errorf("bob's link = %+v", l)
	}
	if _, ok := got[cy.ID]; ok {
		t.Error("LinksOfUsers returned a user that was not asked for")
	}
	if got, err := b.LinksOfUsers(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("LinksOfUsers(none) = %+v, %v", got, err)
	}
}

func testLinkTouch(t *testing.T, b LinksBackend) {
	ctx := context.Background()
	u := mustAccount(t, b, newUser("ada"))
	l := newLink(issuerA, "s1", u.ID, t0)
	mustLink(t, b, l)
	mustLink(t, b, newLink(issuerA, "s2", u.ID, t0))
	at := t0.Add(time.Hour + 123*time.Nanosecond)
	if err := b.TouchLink(ctx, issuerA, "s1", at); err != nil {
		t.Fatal(err)
	}
	got, err := b.LinkOf(ctx, issuerA, "s1")
	if err != nil || !SameInstant(got.LastLogin, at) || !SameInstant(got.Created, t0) {
		t.Fatalf("after TouchLink: %+v, %v; want last log-in %v", got, err, at)
	}
	if other, _ := b.LinkOf(ctx, issuerA, "s2"); !other.LastLogin.IsZero() {
		t.Errorf("TouchLink changed another link: %+v", other)
	}
	if err := b.TouchLink(ctx, issuerA, "s1", at.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.LinkOf(ctx, issuerA, "s1"); !SameInstant(got.LastLogin, at) {
		t.Errorf("an earlier TouchLink moved the last log-in back to %v", got.LastLogin)
	}
	if err := b.TouchLink(ctx, issuerB, "s1", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchLink(no link) = %v, want ErrNotFound", err)
	}
}

func testLinkDelete(t *testing.T, b LinksBackend) {
	ctx := context.Background()
	ada := mustAccount(t, b, newUser("ada"))
	bob := mustAccount(t, b, newUser("bob"))
	mustLink(t, b, newLink(issuerA, "s1", ada.ID, t0))
	mustLink(t, b, newLink(issuerA, "s2", ada.ID, t0))
	if err := b.DeleteLink(ctx, bob.ID, issuerA, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteLink of another account's link = %v, want ErrNotFound", err)
	}
	if _, err := b.LinkOf(ctx, issuerA, "s1"); err != nil {
		t.Fatalf("the link after another account's DeleteLink: %v, want it kept", err)
	}
	if err := b.DeleteLink(ctx, ada.ID, issuerA, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LinkOf(ctx, issuerA, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LinkOf after DeleteLink = %v, want ErrNotFound", err)
	}
	if err := b.DeleteLink(ctx, ada.ID, issuerA, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteLink = %v, want ErrNotFound", err)
	}
	if links, _ := b.LinksOf(ctx, ada.ID); len(links) != 1 || links[0].Subject != "s2" {
		t.Fatalf("ada's links after deleting one = %+v, want s2 only", links)
	}
	// Deleted, the identity may be linked again, to anyone.
	mustLink(t, b, newLink(issuerA, "s1", bob.ID, t0))
}

func testLinkCascade(t *testing.T, b LinksBackend) {
	ctx := context.Background()
	ada := mustAccount(t, b, newUser("ada"))
	bob := mustAccount(t, b, newUser("bob"))
	mustLink(t, b, newLink(issuerA, "s1", ada.ID, t0))
	mustLink(t, b, newLink(issuerA, "s2", bob.ID, t0))
	if err := b.DeleteUser(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LinkOf(ctx, issuerA, "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link of a deleted account = %v, want ErrNotFound", err)
	}
	if got, err := b.LinkOf(ctx, issuerA, "s2"); err != nil || got.UserID != bob.ID {
		t.Fatalf("bob's link after ada's deletion = %+v, %v", got, err)
	}
	// A deactivated account keeps its links (the linker refuses it).
	if err := b.DeactivateUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.LinkOf(ctx, issuerA, "s2"); err != nil {
		t.Fatalf("link of a deactivated account = %v, want kept", err)
	}
}

func codeHash(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustPutCode(t *testing.T, b account.SignInCodeStore, c *account.SignInCode) {
	t.Helper()
	if err := b.PutSignInCode(context.Background(), c); err != nil {
		t.Fatalf("PutSignInCode: %v", err)
	}
}

func testSignInCodeTakeOnce(t *testing.T, b SignInCodesBackend) {
	ctx := context.Background()
	u := mustAccount(t, b, newUser("ada"))
	now := time.Now()
	c := &account.SignInCode{Hash: codeHash(1), UserID: u.ID, IssuedBy: "admin-1", Created: now, Expires: now.Add(15 * time.Minute)}
	mustPutCode(t, b, c)
	if err := b.PutSignInCode(ctx, &account.SignInCode{Hash: codeHash(1), UserID: u.ID, Created: now, Expires: now.Add(time.Minute)}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutSignInCode of a stored hash = %v, want ErrConflict", err)
	}
	if err := b.PutSignInCode(ctx, &account.SignInCode{Hash: codeHash(2), UserID: "nobody", Created: now, Expires: now.Add(time.Minute)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PutSignInCode for a missing account = %v, want ErrNotFound", err)
	}
	if _, err := b.TakeSignInCode(ctx, codeHash(3), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeSignInCode(unknown) = %v, want ErrNotFound", err)
	}
	got, err := b.TakeSignInCode(ctx, codeHash(1), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Hash, c.Hash) || got.UserID != u.ID || got.IssuedBy != "admin-1" ||
		!SameInstant(got.Created, now) || !SameInstant(got.Expires, c.Expires) {
		t.Fatalf("TakeSignInCode = %+v, want %+v", got, c)
	}
	if _, err := b.TakeSignInCode(ctx, codeHash(1), now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakeSignInCode = %v, want ErrNotFound (single use)", err)
	}
}

func testSignInCodeExpired(t *testing.T, b SignInCodesBackend) {
	ctx := context.Background()
	u := mustAccount(t, b, newUser("ada"))
	now := time.Now()
	mustPutCode(t, b, &account.SignInCode{Hash: codeHash(1), UserID: u.ID, Created: now, Expires: now.Add(time.Minute)})
	mustPutCode(t, b, &account.SignInCode{Hash: codeHash(2), UserID: u.ID, Created: now, Expires: now.Add(time.Minute)})
	if _, err := b.TakeSignInCode(ctx, codeHash(1), now.Add(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeSignInCode at its expiry = %v, want ErrNotFound", err)
	}
	// An expired code is of no further use: taking it once ends it.
	if _, err := b.TakeSignInCode(ctx, codeHash(1), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TakeSignInCode after a take at expiry = %v, want ErrNotFound", err)
	}
	if _, err := b.TakeSignInCode(ctx, codeHash(2), now.Add(time.Minute-time.Millisecond)); err != nil {
		t.Fatalf("TakeSignInCode just before expiry: %v", err)
	}
	// A put drops the codes that expired by the store's clock.
	mustPutCode(t, b, &account.SignInCode{Hash: codeHash(3), UserID: u.ID, Created: now.Add(-time.Hour), Expires: now.Add(-time.Minute)})
	mustPutCode(t, b, &account.SignInCode{Hash: codeHash(4), UserID: u.ID, Created: now, Expires: now.Add(time.Minute)})
	if _, err := b.TakeSignInCode(ctx, codeHash(3), now.Add(-time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("code expired before a later put = %v, want it dropped", err)
	}
}

func testSignInCodesDelete(t *testing.T, b SignInCodesBackend) {
	ctx := context.Background()
	ada := mustAccount(t, b, newUser("ada"))
	bob := mustAccount(t, b, newUser("bob"))
	now := time.Now()
	for i, id := range []string{ada.ID, ada.ID, bob.ID} {
		mustPutCode(t, b, &account.SignInCode{Hash: codeHash(byte(i + 1)), UserID: id, Created: now, Expires: now.Add(time.Minute)})
	}
	if err := b.DeleteSignInCodes(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	for _, h := range []byte{1, 2} {
		if _, err := b.TakeSignInCode(ctx, codeHash(h), now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ada's code %d after DeleteSignInCodes = %v, want ErrNotFound", h, err)
		}
	}
	if err := b.DeleteSignInCodes(ctx, ada.ID); err != nil {
		t.Fatalf("DeleteSignInCodes of none: %v, want nil", err)
	}
	if c, err := b.TakeSignInCode(ctx, codeHash(3), now); err != nil || c.UserID != bob.ID {
		t.Fatalf("bob's code after ada's were deleted = %+v, %v", c, err)
	}
}

func testSignInCodesDeactivate(t *testing.T, b SignInCodesBackend) {
	ctx := context.Background()
	ada := mustAccount(t, b, newUser("ada"))
	bob := mustAccount(t, b, newUser("bob"))
	cy := mustAccount(t, b, newUser("cy"))
	now := time.Now()
	for i, id := range []string{ada.ID, bob.ID, cy.ID} {
		mustPutCode(t, b, &account.SignInCode{Hash: codeHash(byte(i + 1)), UserID: id, Created: now, Expires: now.Add(time.Minute)})
	}
	if err := b.DeactivateUser(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeSignInCode(ctx, codeHash(1), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("code of a deactivated account = %v, want ErrNotFound", err)
	}
	// Turned inactive by an update (SCIM, the people pages), the same.
	got, err := b.User(ctx, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Active = false
	if err := b.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeSignInCode(ctx, codeHash(2), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("code of an account updated to inactive = %v, want ErrNotFound", err)
	}
	if err := b.DeleteUser(ctx, cy.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TakeSignInCode(ctx, codeHash(3), now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("code of a deleted account = %v, want ErrNotFound", err)
	}
}

func testSignInCodeConcurrentTake(t *testing.T, b SignInCodesBackend) {
	ctx := context.Background()
	u := mustAccount(t, b, newUser("ada"))
	now := time.Now()
	mustPutCode(t, b, &account.SignInCode{Hash: codeHash(7), UserID: u.ID, Created: now, Expires: now.Add(time.Minute)})
	wins := race(t, 8, store.ErrNotFound, func(int) error {
		_, err := b.TakeSignInCode(ctx, codeHash(7), now)
		return err
	})
	if wins != 1 {
		t.Fatalf("%d concurrent TakeSignInCode calls succeeded, want 1", wins)
	}
}
