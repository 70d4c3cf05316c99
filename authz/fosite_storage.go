package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"

	"github.com/smartgate/smartgate/store"
)

// fositeStore adapts Store (store_interface.go) to fosite's storage
// interfaces. Keys are hashed before they reach the store.
type fositeStore struct {
	st      Store
	clients func(ctx context.Context, id string) (*fositeClient, error)
	now     func() time.Time
	grace   time.Duration // refresh-token reuse grace window
}

var (
	_ fosite.ClientManager               = (*fositeStore)(nil)
	_ oauth2.CoreStorage                 = (*fositeStore)(nil)
	_ oauth2.TokenRevocationStorage      = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage            = (*fositeStore)(nil)
	_ openid.OpenIDConnectRequestStorage = (*fositeStore)(nil)
)

func hashKey(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScopes   []string        `json:"requested_scopes"`
	GrantedScopes     []string        `json:"granted_scopes"`
	RequestedAudience []string        `json:"requested_audience"`
	GrantedAudience   []string        `json:"granted_audience"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
}

func (fs *fositeStore) record(kind TokenKind, key string, req fosite.Requester, exp time.Time) (TokenRecord, error) {
	sess, _ := req.GetSession().(*Session)
	if sess == nil {
		return TokenRecord{}, fmt.Errorf("authz: unexpected session type %T", req.GetSession())
	}
	sb, err := json.Marshal(sess)
	if err != nil {
		return TokenRecord{}, err
	}
	form := url.Values{}
	for k, v := range req.GetRequestForm() {
		switch k {
		case "client_secret", "client_assertion", "password", "otp", "code", "refresh_token", "code_verifier":
			continue
		}
		form[k] = v
	}
	data, err := json.Marshal(storedRequest{
		ID: req.GetID(), RequestedAt: req.GetRequestedAt(), ClientID: req.GetClient().GetID(),
		RequestedScopes: req.GetRequestedScopes(), GrantedScopes: req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(), GrantedAudience: req.GetGrantedAudience(),
		Form: form, Session: sb,
	})
	if err != nil {
		return TokenRecord{}, err
	}
	if exp.IsZero() {
		exp = fs.now().Add(24 * time.Hour)
	}
	return TokenRecord{
		Kind: kind, Signature: hashKey(key), RequestID: req.GetID(), ClientID: req.GetClient().GetID(),
		Subject: sess.GetSubject(), SessionID: sess.OnlineSession, State: StateActive, RequestedAt: req.GetRequestedAt(), ExpiresAt: exp, Data: data,
	}, nil
}

func (fs *fositeStore) create(ctx context.Context, kind TokenKind, key string, req fosite.Requester, exp time.Time, accessSig string) error {
	rec, err := fs.record(kind, key, req, exp)
	if err != nil {
		return err
	}
	if accessSig != "" {
		rec.AccessSignature = hashKey(accessSig)
	}
	return fs.st.CreateToken(ctx, rec)
}

func (fs *fositeStore) hydrate(ctx context.Context, rec TokenRecord) (*fosite.Request, error) {
	var sr storedRequest
	if err := json.Unmarshal(rec.Data, &sr); err != nil {
		return nil, fmt.Errorf("authz: stored request: %w", err)
	}
	sess := newSession()
	if err := json.Unmarshal(sr.Session, sess); err != nil {
		return nil, fmt.Errorf("authz: stored session: %w", err)
	}
	c, err := fs.clients(ctx, sr.ClientID)
	if err != nil {
		return nil, err
	}
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: c,
		RequestedScope: sr.RequestedScopes, GrantedScope: sr.GrantedScopes,
		RequestedAudience: sr.RequestedAudience, GrantedAudience: sr.GrantedAudience,
		Form: sr.Form, Session: sess,
	}, nil
}

func (fs *fositeStore) get(ctx context.Context, kind TokenKind, key string) (TokenRecord, *fosite.Request, error) {
	rec, err := fs.st.GetToken(ctx, kind, hashKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return rec, nil, fosite.ErrNotFound
	} else if err != nil {
		return rec, nil, err
	}
	req, err := fs.hydrate(ctx, rec)
	if err != nil {
		return rec, nil, err
	}
	return rec, req, nil
}

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fosite.ErrNotFound
	}
	return err
}

// GetClient implements fosite.ClientManager.
func (fs *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := fs.clients(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager (unused: our own
// client authentication checks jti with UseJTI).
func (fs *fositeStore) ClientAssertionJWTValid(ctx context.Context, jti string) error { return nil }

// SetClientAssertionJWT implements fosite.ClientManager.
func (fs *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	return fs.st.UseJTI(ctx, hashKey(jti), exp, fs.now())
}

func (fs *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return fs.create(ctx, KindCode, code, req, req.GetSession().GetExpiresAt(fosite.AuthorizeCode), "")
}

func (fs *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, _ fosite.Session) (fosite.Requester, error) {
	rec, req, err := fs.get(ctx, KindCode, code)
	if err != nil {
		return nil, err
	}
	if rec.State != StateActive {
		// Not fosite's ErrInvalidatedAuthorizeCode: its handler would
		// revoke the grant ignoring a failure; authorizeCodeGrant revokes
		// failing closed (flow_code.go).
		return req, &codeReusedError{requestID: req.GetID()}
	}
	return req, nil
}

func (fs *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	err := fs.st.SetTokenState(ctx, KindCode, hashKey(code), StateActive, StateUsed, fs.now())
	if errors.Is(err, store.ErrConflict) {
		return errCodeRace
	}
	return notFound(err)
}

// CreateAccessTokenSession stores an access token's grant, except for a
// client_credentials token: that one is stateless (stateless.go).
func (fs *fositeStore) CreateAccessTokenSession(ctx context.Context, sig string, req fosite.Requester) error {
	if sess, ok := req.GetSession().(*Session); ok && sess.Grant == grantClientCredentials {
		return nil
	}
	return fs.create(ctx, KindAccess, sig, req, req.GetSession().GetExpiresAt(fosite.AccessToken), "")
}

func (fs *fositeStore) GetAccessTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	rec, req, err := fs.get(ctx, KindAccess, sig)
	if err != nil {
		return nil, err
	}
	if rec.State != StateActive {
		return nil, fosite.ErrNotFound
	}
	return req, nil
}

func (fs *fositeStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return fs.st.DeleteToken(ctx, KindAccess, hashKey(sig))
}

func (fs *fositeStore) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, req fosite.Requester) error {
	return fs.create(ctx, KindRefresh, sig, req, req.GetSession().GetExpiresAt(fosite.RefreshToken), accessSig)
}

// GetRefreshTokenSession returns the grant of an active refresh token. A
// rotated one is still accepted within the grace window (the client may have
// lost the response); after that, or when revoked, fosite sees
// ErrInactiveToken and revokes the whole family.
func (fs *fositeStore) GetRefreshTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	rec, req, err := fs.get(ctx, KindRefresh, sig)
	if err != nil {
		return nil, err
	}
	switch rec.State {
	case StateActive:
		return req, nil
	case StateRotated:
		if fs.grace > 0 && fs.now().Sub(rec.StateAt) <= fs.grace {
			return req, nil
		}
	}
	return req, fosite.ErrInactiveToken
}

func (fs *fositeStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	// Keep the record (revoked) so that a later replay is still detected.
	err := fs.st.SetTokenState(ctx, KindRefresh, hashKey(sig), "", StateRevoked, fs.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// RotateRefreshToken marks the presented refresh token rotated and, on a
// grace-window retry, revokes the successor the client never received.
func (fs *fositeStore) RotateRefreshToken(ctx context.Context, requestID string, sig string) error {
	return fs.st.RotateRefreshToken(ctx, requestID, hashKey(sig), fs.now())
}

func (fs *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return fs.st.RevokeTokens(ctx, KindRefresh, requestID, fs.now())
}

func (fs *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return fs.st.RevokeTokens(ctx, KindAccess, requestID, fs.now())
}

func (fs *fositeStore) CreatePKCERequestSession(ctx context.Context, sig string, req fosite.Requester) error {
	return fs.create(ctx, KindPKCE, sig, req, req.GetSession().GetExpiresAt(fosite.AuthorizeCode), "")
}

func (fs *fositeStore) GetPKCERequestSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	_, req, err := fs.get(ctx, KindPKCE, sig)
	if err != nil {
		return nil, err
	}
	return req, nil
}

func (fs *fositeStore) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return fs.st.DeleteToken(ctx, KindPKCE, hashKey(sig))
}

func (fs *fositeStore) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return fs.create(ctx, KindOIDC, code, req, req.GetSession().GetExpiresAt(fosite.AuthorizeCode), "")
}

func (fs *fositeStore) GetOpenIDConnectSession(ctx context.Context, code string, _ fosite.Requester) (fosite.Requester, error) {
	_, req, err := fs.get(ctx, KindOIDC, code)
	if err != nil {
		return nil, err
	}
	return req, nil
}

func (fs *fositeStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return fs.st.DeleteToken(ctx, KindOIDC, hashKey(code))
}
