// Package showonce keeps a secret that was just made (a client secret, a
// provisioning token, a generated password) in memory under a random,
// single-use handle bound to the person who made it, so that the page a
// POST redirects to (RFC 9700 §4.12: 303) shows it once. The secret never
// travels in a URL or a log, only the handle does; a handle taken by
// someone else, taken twice or older than TTL shows nothing.
package showonce

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// TTL is how long a secret waits for its page.
const TTL = 10 * time.Minute

type entry struct {
	subject, secret, viewer string
	expires                 time.Time
}

// Store holds secrets until their page is shown once.
type Store struct {
	mu  sync.Mutex
	m   map[string]entry
	now func() time.Time
}

// New returns an empty Store on the clock now (nil: time.Now).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{m: map[string]entry{}, now: now}
}

// Put keeps secret, made for subject (a client or a person) by viewer, and
// returns its handle; expired entries are dropped.
func (s *Store) Put(subject, secret, viewer string) string {
	b := make([]byte, 32)
	rand.Read(b)
	h := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m {
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[h] = entry{subject: subject, secret: secret, viewer: viewer, expires: now.Add(TTL)}
	return h
}

// Take returns and forgets the secret of handle h when it was made for
// subject by viewer and has not expired; otherwise "" (and a handle shown
// to the wrong viewer stays for the right one).
func (s *Store) Take(h, subject, viewer string) string {
	if h == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[h]
	if !ok || v.subject != subject || v.viewer != viewer {
		return ""
	}
	delete(s.m, h)
	if s.now().After(v.expires) {
		return ""
	}
	return v.secret
}
