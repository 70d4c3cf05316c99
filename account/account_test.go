package account

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartgate/smartgate/store"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestNormalizeUserName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"alice", "alice", true},
		{"Alice", "alice", true},
		{"  ALICE ", "alice", true},
		{"Ａｌｉｃｅ", "alice", true}, // fullwidth → ASCII (width mapping)
		{"alice@example.org", "alice@example.org", true},
		{"al ice", "", false},
		{"", "", false},
		{"bad\x00name", "", false},
		{strings.Repeat("a", 129), "", false},
	}
	for _, tc := range tests {
		got, err := NormalizeUserName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeUserName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		user, pw string
		ok       bool
	}{
		{"bob", "correct horse battery", true},
		{"bob", "short", false},
		{"bob", "elevenchars", false},
		{"bob", "twelve chars", true},
		{"longusername", "LongUserName", false},
		{"bob", strings.Repeat("x", MaxPasswordLength+1), false},
		{"bob", "ümlautsümlauts", true},
		{"bob", "\xff\xfe invalid utf8 bytes", false},
	}
	for _, tc := range tests {
		err := CheckPassword(tc.user, tc.pw)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrWeakPassword)) {
			t.Errorf("CheckPassword(%q, %q) = %v, want ok=%v", tc.user, tc.pw, err, tc.ok)
		}
	}
}

func TestHashFormatAndVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(Params{}, 2)
	enc, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(enc) {
		t.Fatalf("hash %q is not an OWASP-parameter argon2id PHC string", enc)
	}
	if ok, err := h.Verify(ctx, "correct horse battery", enc); !ok || err != nil {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if ok, _ := h.Verify(ctx, "correct horse batterz", enc); ok {
		t.Fatal("Verify(wrong) = true")
	}
	if ok, err := h.Verify(ctx, "anything", ""); ok || err != nil {
		t.Fatalf("Verify against no hash = %v, %v; want false, nil", ok, err)
	}
	if h.NeedsRehash(enc) {
		t.Fatal("NeedsRehash of a current hash")
	}
	weak, _ := NewHasher(cheap, 1).Hash(ctx, "pw")
	if !h.NeedsRehash(weak) {
		t.Fatal("NeedsRehash of a cheap hash = false")
	}
	if ok, _ := h.Verify(ctx, "pw", weak); !ok {
		t.Fatal("a hash with other parameters does not verify (parameters must come from the string)")
	}
}

func TestVerifyRejectsOutOfBoundsHashes(t *testing.T) {
	h := NewHasher(cheap, 1)
	for _, enc := range []string{
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"plaintext",
	} {
		if ok, err := h.Verify(context.Background(), "pw", enc); ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrBadHash", enc, ok, err)
		}
	}
}

func TestHasherConcurrencyCapHonoursContext(t *testing.T) {
	h := NewHasher(cheap, 1)
	h.sem <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash while full with a cancelled context = %v", err)
	}
	if _, err := h.Verify(ctx, "pw", ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify while full with a cancelled context = %v", err)
	}
	h.release()
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decode(s)
		if err != nil {
			return
		}
		if p.Memory > maxMemory || p.Time > maxTime || len(salt) > maxSaltLen || len(key) > maxKeyLen {
			t.Fatalf("decode(%q) accepted out-of-bounds %+v", s, p)
		}
	})
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// fail records one checked wrong password; check reports whether an
// attempt would be let through (without counting one).
func fail(th *Throttle, user, addr string) {
	if at, err := th.Reserve(noWait(), user, addr); err == nil {
		at.Failed()
	}
}

func check(th *Throttle, user, addr string) error {
	at, err := th.Reserve(noWait(), user, addr)
	if err == nil {
		at.Abandoned()
	}
	return err
}

func TestThrottleLockoutPerAccountAndAddress(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 5, Window: time.Minute, Lockout: 10 * time.Minute, Now: clk.now})
	for range 2 {
		fail(th, "alice", "10.0.0.1")
	}
	if err := check(th, "alice", "10.0.0.1"); err != nil {
		t.Fatalf("locked after 2 failures: %v", err)
	}
	fail(th, "alice", "10.0.0.1")
	if err := check(th, "alice", "10.0.0.9"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("account not locked after 3 failures: %v", err)
	}
	if err := check(th, "bob", "10.0.0.1"); err != nil {
		t.Fatalf("address locked too early: %v", err)
	}
	clk.t = clk.t.Add(10*time.Minute + time.Second)
	if err := check(th, "alice", "10.0.0.1"); err != nil {
		t.Fatalf("still locked after the lockout: %v", err)
	}
	// Address: failures on many accounts from one address.
	for i := range 5 {
		fail(th, string(rune('a'+i))+"user", "10.0.0.2")
	}
	if err := check(th, "fresh", "10.0.0.2"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("address not locked: %v", err)
	}
	// IPv6 addresses count per /64.
	for i := range 5 {
		fail(th, string(rune('k'+i))+"user", "2001:db8:1:2::"+string(rune('a'+i)))
	}
	if err := check(th, "fresh", "2001:db8:1:2:ffff::1"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("IPv6 /64 not locked: %v", err)
	}
	if err := check(th, "fresh", "2001:db8:1:3::1"); err != nil {
		t.Fatalf("another /64 locked: %v", err)
	}
	// Failures spread beyond the window do not add up.
	fail(th, "carol", "")
	fail(th, "carol", "")
	clk.t = clk.t.Add(2 * time.Minute)
	fail(th, "carol", "")
	if err := check(th, "carol", ""); err != nil {
		t.Fatalf("failures outside the window counted: %v", err)
	}
	at, err := th.Reserve(noWait(), "carol", "")
	if err != nil {
		t.Fatal(err)
	}
	at.Succeeded()
	fail(th, "carol", "")
	fail(th, "carol", "")
	if err := check(th, "carol", ""); err != nil {
		t.Fatalf("success did not reset: %v", err)
	}
}

// TestThrottleCountsChecksInFlight: reserved attempts count before
// they end, so the limit bounds checks in flight plus failures; an
// abandoned attempt and a success give the slot back, and ending an
// attempt twice changes nothing.
func TestThrottleCountsChecksInFlight(t *testing.T) {
	th := NewThrottle(ThrottleConfig{MaxPerAccount: 3, MaxPerAddress: 4})
	var held []*Attempt
	for range 3 {
		at, err := th.Reserve(noWait(), "dave", "10.0.0.3")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, at)
	}
	if _, err := th.Reserve(noWait(), "dave", "10.0.0.4"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("a 4th attempt with 3 in flight: %v, want ErrThrottled", err)
	}
	if _, err := th.Reserve(noWait(), "erin", "10.0.0.3"); err != nil {
		t.Fatalf("address with 3 of 4 in flight: %v", err) // now 4 of 4
	}
	if _, err := th.Reserve(noWait(), "fay", "10.0.0.3"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("address with 4 of 4 in flight: %v, want ErrThrottled", err)
	}
	held[0].Abandoned()
	held[0].Failed() // already ended: not counted
	held[1].Succeeded()
	held[2].Failed()
	for range 2 {
		fail(th, "dave", "10.0.0.5")
	}
	if err := check(th, "dave", "10.0.0.6"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("3 failures: %v, want ErrThrottled", err)
	}
}

// noWait is a context that is already over: Reserve then refuses at once
// where it would wait for a check in flight.
func noWait() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestSec9D5_ReserveWaitsForChecksInFlight: when only checks in flight fill
// the slots, Reserve waits for one to end instead of refusing a right
// password: a success frees the slot for the waiter; a failure that
// reaches the limit refuses it, and so does MaxWait.
func TestSec9D5_ReserveWaitsForChecksInFlight(t *testing.T) {
	th := NewThrottle(ThrottleConfig{MaxPerAccount: 2, MaxPerAddress: 10, MaxWait: time.Minute})
	a1, err1 := th.Reserve(context.Background(), "gus", "10.0.1.1")
	a2, err2 := th.Reserve(context.Background(), "gus", "10.0.1.1")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	got := make(chan error, 1)
	go func() {
		at, err := th.Reserve(context.Background(), "gus", "10.0.1.1")
		if err == nil {
			at.Succeeded()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Reserve with both slots in flight returned %v at once, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	a1.Succeeded()
	if err := <-got; err != nil {
		t.Fatalf("waiter after a success: %v, want a slot", err)
	}
	// One failure in the window and one check in flight: the waiter is
	// refused once the check in flight fails too (the limit is reached).
	fail(th, "gus", "10.0.1.1")
	go func() {
		at, err := th.Reserve(context.Background(), "gus", "10.0.1.1")
		if err == nil {
			at.Abandoned()
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a2.Failed()
	if err := <-got; !errors.Is(err, ErrThrottled) {
		t.Fatalf("waiter after the limit was reached: %v, want ErrThrottled", err)
	}
	// MaxWait bounds the wait.
	short := NewThrottle(ThrottleConfig{MaxPerAccount: 1, MaxWait: 20 * time.Millisecond})
	held, err := short.Reserve(context.Background(), "hal", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Reserve(context.Background(), "hal", ""); !errors.Is(err, ErrThrottled) {
		t.Fatalf("after MaxWait: %v, want ErrThrottled", err)
	}
	held.Abandoned()
}

func TestThrottleBoundedMemory(t *testing.T) {
	th := NewThrottle(ThrottleConfig{MaxEntries: 100})
	for i := range 1000 {
		fail(th, strings.Repeat("x", i%50)+string(rune(i)), "")
	}
	if n := len(th.entries); n > 100 {
		t.Fatalf("%d entries, want <= 100", n)
	}
}

// TestThrottleFloodKeepsLockout: filling the table with fresh keys (one
// failure each, from many addresses) prunes them, never a running lockout.
func TestThrottleFloodKeepsLockout(t *testing.T) {
	th := NewThrottle(ThrottleConfig{MaxEntries: 100})
	for range DefaultMaxPerAccount {
		fail(th, "victim", "")
	}
	if err := check(th, "victim", ""); !errors.Is(err, ErrThrottled) {
		t.Fatalf("victim before the flood: %v, want ErrThrottled", err)
	}
	for i := range 1000 {
		fail(th, fmt.Sprintf("fresh-%d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250))
	}
	if err := check(th, "victim", ""); !errors.Is(err, ErrThrottled) {
		t.Fatalf("victim after the flood: %v, want ErrThrottled (the lockout was pruned)", err)
	}
	if n := len(th.entries); n > 100 {
		t.Fatalf("%d entries, want <= 100", n)
	}
}

type mapUsers map[string]*User

func (m mapUsers) UpdateUser(_ context.Context, u *User) error {
	c := *u
	c.Meta.Version++
	m[u.UserName] = &c
	return nil
}

func (m mapUsers) UserByName(_ context.Context, n string) (*User, error) {
	if u, ok := m[n]; ok {
		return u, nil
	}
	return nil, store.ErrNotFound
}

func TestAuthenticator(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	hash, _ := h.Hash(ctx, "right password")
	users := mapUsers{
		"ann":  {UserName: "ann", Active: true, PasswordHash: hash},
		"off":  {UserName: "off", Active: false, PasswordHash: hash},
		"fed":  {UserName: "fed", Active: true},
		"junk": {UserName: "junk", Active: true, PasswordHash: "garbage"},
	}
	clk := &fakeClock{t: time.Now()}
	a := NewAuthenticator(users, h, NewThrottle(ThrottleConfig{MaxPerAccount: 3, Now: clk.now}))
	if u, err := a.Authenticate(ctx, "ANN", "right password", "1.2.3.4"); err != nil || u.UserName != "ann" {
		t.Fatalf("good log-in = %v, %v", u, err)
	}
	for _, tc := range []struct{ user, pw string }{
		{"ann", "wrong"}, {"nobody", "right password"}, {"off", "right password"}, {"fed", ""}, {"junk", "x"}, {"a b", "x"},
	} {
		if _, err := a.Authenticate(ctx, tc.user, tc.pw, "5.6.7.8"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", tc.user, tc.pw, err)
		}
	}
	a.Authenticate(ctx, "ann", "wrong", "9.9.9.9")
	a.Authenticate(ctx, "ann", "wrong", "9.9.9.9")
	// A hash with other parameters is upgraded at a successful log-in.
	old, _ := NewHasher(Params{Memory: 32, Time: 1, Threads: 1}, 1).Hash(ctx, "right password")
	users["old"] = &User{UserName: "old", Active: true, PasswordHash: old}
	if _, err := a.Authenticate(ctx, "old", "right password", ""); err != nil {
		t.Fatal(err)
	}
	if users["old"].PasswordHash == old || h.NeedsRehash(users["old"].PasswordHash) {
		t.Fatal("old hash not upgraded")
	}
	if _, err := a.Authenticate(ctx, "ann", "right password", "1.2.3.4"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("locked account with the right password = %v, want ErrThrottled", err)
	}
}

func TestNewLocalUser(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 1)
	u, err := NewLocalUser(ctx, h, "Dr.Who", "a long enough password", []string{RolePractitioner}, "Practitioner/x1")
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "dr.who" || !u.Active || u.PasswordHash == "" || u.FHIRUser != "Practitioner/x1" {
		t.Fatalf("user = %+v", u)
	}
	if ok, _ := h.Verify(ctx, "a long enough password", u.PasswordHash); !ok {
		t.Fatal("password does not verify")
	}
	for _, tc := range []struct {
		name, pw, fhir string
		roles          []string
	}{
		{"a b", "a long enough password", "", nil},
		{"ok", "short", "", nil},
		{"ok", "a long enough password", "Observation/1", nil},
		{"ok", "a long enough password", "Patient/", nil},
		{"ok", "a long enough password", "", []string{"root"}},
	} {
		if _, err := NewLocalUser(ctx, h, tc.name, tc.pw, tc.roles, tc.fhir); err == nil {
			t.Errorf("NewLocalUser(%q, %q, %v, %q) accepted", tc.name, tc.pw, tc.roles, tc.fhir)
		}
	}
}

// TestS13_AnonymousUserNameReserved: the built-in anonymous account's name
// (--client-cert-policy limit) cannot be taken by a person, in any case or
// width (Validate is what every creation and change passes).
func TestS13_AnonymousUserNameReserved(t *testing.T) {
	for _, name := range []string{"anonymous", "Anonymous", "ＡＮＯＮＹＭＯＵＳ"} {
		u := &User{UserName: name}
		err := prepareUser(context.Background(), nil, u, "")
		if !errors.Is(err, ErrInvalidUserName) {
			t.Errorf("user name %q: %v, want ErrInvalidUserName", name, err)
		}
	}
	if err := (&User{UserName: "anonymous2"}).Validate(); err != nil {
		t.Errorf("anonymous2: %v", err)
	}
}
