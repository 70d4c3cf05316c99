package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// SessionKeysSetting is the settings key holding the cookie keys: a JSON
// list of {hash, block} pairs, newest first. The newest pair encodes; all
// decode, so that rotating keeps existing sessions.
const SessionKeysSetting = "web.session_keys"

type keyPair struct {
	Hash  []byte `json:"hash"`  // HMAC-SHA256 key, 64 bytes
	Block []byte `json:"block"` // AES-256 key, 32 bytes
}

func newKeyPair() keyPair {
	kp := keyPair{Hash: make([]byte, 64), Block: make([]byte, 32)}
	rand.Read(kp.Hash)
	rand.Read(kp.Block)
	return kp
}

// Cookie names: the HTTPS listener's cookie carries the __Host- prefix (Secure,
// Path=/, no Domain); the HTTP listener has its own, since cookies do not
// keep ports apart.
const (
	cookieSecure   = "__Host-smartgate"
	cookieInsecure = "smartgate"
)

type cookieCodec struct {
	store *sessions.CookieStore
}

func loadCookieCodec(ctx context.Context, st Store, ttl time.Duration) (*cookieCodec, error) {
	raw, err := st.SettingOrCreate(ctx, SessionKeysSetting, func() ([]byte, error) {
		return json.Marshal([]keyPair{newKeyPair()})
	})
	if err != nil {
		return nil, wrap("session keys", err)
	}
	var pairs []keyPair
	if err := json.Unmarshal(raw, &pairs); err != nil || len(pairs) == 0 {
		return nil, fmt.Errorf("web: session keys in setting %s are unreadable", SessionKeysSetting)
	}
	var keys [][]byte
	for _, p := range pairs {
		keys = append(keys, p.Hash, p.Block)
	}
	cs := sessions.NewCookieStore(keys...)
	cs.MaxAge(int(ttl.Seconds()))
	return &cookieCodec{store: cs}, nil
}

// KeyStore is what RotateSessionKeys needs.
type KeyStore interface {
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}

// RotateSessionKeys puts a new cookie key pair in front and keeps at most
// keep pairs (at least 2, so that cookies made with the previous pair still
// decode). Servers pick the new keys up when they start.
func RotateSessionKeys(ctx context.Context, st KeyStore, keep int) error {
	keep = max(keep, 2)
	var pairs []keyPair
	raw, err := st.Setting(ctx, SessionKeysSetting)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return fmt.Errorf("web: rotate session keys: %w", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return wrap("rotate session keys", err)
	}
	pairs = append([]keyPair{newKeyPair()}, pairs...)
	if len(pairs) > keep {
		pairs = pairs[:keep]
	}
	out, _ := json.Marshal(pairs)
	return st.PutSetting(ctx, SessionKeysSetting, out)
}

// browser is the state a browser carries in its cookie: a random browser id
// that pending authorization requests are bound to, the server-side log-in
// session id (empty when logged out) and the CSRF token of its forms.
type browser struct {
	sess  *sessions.Session
	BID   string
	SID   string
	CSRF  string
	dirty bool
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func secureRequest(r *http.Request) bool {
	if info, ok := listener.From(r.Context()); ok {
		return info.Secure
	}
	return r.TLS != nil
}

func cookieName(r *http.Request) string {
	if secureRequest(r) {
		return cookieSecure
	}
	return cookieInsecure
}

// browser decodes the request's cookie (a missing, forged or expired one
// gives a fresh state) and makes sure it has a browser id and a CSRF token.
func (s *Server) browser(r *http.Request) *browser {
	sess, _ := s.cookies.store.New(r, cookieName(r)) // on error: a new, empty session
	b := &browser{sess: sess}
	b.BID, _ = sess.Values["bid"].(string)
	b.SID, _ = sess.Values["sid"].(string)
	b.CSRF, _ = sess.Values["csrf"].(string)
	if b.BID == "" {
		b.BID, b.dirty = randomToken(), true
	}
	if b.CSRF == "" {
		b.CSRF, b.dirty = randomToken(), true
	}
	return b
}

// postedForm parses a state-changing form and checks its CSRF token against
// the browser's. When either fails it has already answered (400 or 403) and
// ok is false; what names the form in the error log.
func (s *Server) postedForm(w http.ResponseWriter, r *http.Request, what string) (b *browser, ok bool) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", err)
		return nil, false
	}
	b = s.browser(r)
	if !b.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, msgBadForm, fmt.Errorf("%s: csrf token mismatch", what))
		return nil, false
	}
	return b, true
}

// save writes the cookie when the state changed: HttpOnly, SameSite=Lax,
// Secure on the HTTPS listener, a browser-session cookie (no Max-Age; the
// server-side session and the signed timestamp bound its life).
func (s *Server) save(w http.ResponseWriter, r *http.Request, b *browser) error {
	if !b.dirty {
		return nil
	}
	b.sess.Values["bid"] = b.BID
	b.sess.Values["sid"] = b.SID
	b.sess.Values["csrf"] = b.CSRF
	b.sess.Options = &sessions.Options{
		Path:     "/",
		HttpOnly: true,
		Secure:   secureRequest(r),
		SameSite: http.SameSiteLaxMode,
	}
	if err := s.cookies.store.Save(r, w, b.sess); err != nil {
		return wrap("save session cookie", err)
	}
	b.dirty = false
	return nil
}

// checkCSRF compares the form's csrf_token with the browser's in constant
// time. CrossOriginProtection has already refused cross-origin requests.
func (b *browser) checkCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf_token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(b.CSRF)) == 1
}

// current returns the logged-in user and session, or nils when there is no
// live session, the account is inactive, or the log-in is not complete (a
// second factor, or its enrolment, is missing: sessionStep). It is a use of
// the session: its idle timeout starts again.
func (s *Server) current(ctx context.Context, b *browser) (*account.User, *account.Session, error) {
	u, sess, step, err := s.loggedIn(ctx, b)
	if err != nil || step != stateDone {
		return nil, nil, err
	}
	return u, sess, nil
}

// loggedIn returns the browser's live session and its active user, and how
// far the log-in has got (sessionStep; stateLogin with nils when there is
// none). Only stateDone is a log-in.
func (s *Server) loggedIn(ctx context.Context, b *browser) (*account.User, *account.Session, state, error) {
	if b.SID == "" {
		return nil, nil, stateLogin, nil
	}
	sess, err := s.cfg.Store.Session(ctx, b.SID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, stateLogin, nil
	}
	if err != nil {
		return nil, nil, stateLogin, wrap("load session", err)
	}
	if live, err := s.sessionPolicy().KeepAlive(ctx, s.cfg.Store, sess, s.cfg.Now()); err != nil {
		return nil, nil, stateLogin, wrap("keep session alive", err)
	} else if !live {
		return nil, nil, stateLogin, nil
	}
	u, err := s.cfg.Store.User(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, stateLogin, nil
	}
	if err != nil {
		return nil, nil, stateLogin, wrap("load user", err)
	}
	if !u.Active {
		return nil, nil, stateLogin, nil
	}
	step, err := s.factorStep(ctx, u, sess.AMR)
	if err != nil {
		return nil, nil, stateLogin, err
	}
	return u, sess, step, nil
}

// startSession records a log-in: a new server-side session and a new CSRF
// token (the old session, if any, ends with its online_access grants, as
// at log-out). The browser id is kept so that pending authorization
// requests survive the log-in.
func (s *Server) startSession(ctx context.Context, b *browser, u *account.User, amr []string) (*account.Session, error) {
	now := s.cfg.Now()
	if b.SID != "" {
		if err := s.endSession(ctx, b.SID); err != nil {
			return nil, wrap("end previous session", err)
		}
	}
	sess := &account.Session{ID: randomToken(), UserID: u.ID, AuthTime: now, AMR: amr, Created: now,
		ExpiresAt: s.sessionPolicy().Expiry(now, now)}
	if err := s.cfg.Store.CreateSession(ctx, sess); err != nil {
		return nil, wrap("create session", err)
	}
	b.SID, b.CSRF, b.dirty = sess.ID, randomToken(), true
	return sess, nil
}
