package authz

import (
	"context"
	"time"
)

// Store is everything authz needs from a storage backend (store/sqlite
// implements it; fosite reaches it through fositeStore, fosite_storage.go);
// every method returns store.ErrNotFound / store.ErrConflict as documented.
type Store interface {
	ClientStore
	TokenStore
	JTIStore
	KeyStore
	// SettingOrCreate returns the setting key, storing the value of create
	// on first use (one value wins when processes race). authz keeps the
	// HMAC secret of codes and refresh tokens there.
	SettingOrCreate(ctx context.Context, key string, create func() ([]byte, error)) ([]byte, error)
}

// ClientStore keeps registered OAuth clients.
type ClientStore interface {
	// CreateClient stores a new client; store.ErrConflict when the id exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client or store.ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient changes client id as update says (dex's
	// storage.UpdateClient): the backend reads the record, calls update
	// with it and stores what update returns, all inside its write
	// transaction (a backend that retries a transaction that lost to a
	// concurrent writer, as store/postgres does, calls update again on the
	// record as it is then; the last call's answer is stored), so that no other change to the client lands between the
	// read and the write (a compare-and-swap; an administrator's disable is
	// never undone by a concurrent edit). update must change fields on old
	// rather than build a new Client, so that fields added later are kept;
	// it must not change the id, nor call the store, nor have any other
	// effect. An error from update
	// aborts the change and is returned (wrapped); store.ErrNotFound if the
	// client is absent.
	UpdateClient(ctx context.Context, id string, update func(old Client) (Client, error)) error
	// ListClients returns every client, ordered by id.
	ListClients(ctx context.Context) ([]*Client, error)
	// DeleteClient removes a client, revokes (at at) its access and refresh
	// tokens and drops its other token records and consents;
	// store.ErrNotFound if absent. (Its stateless client_credentials
	// tokens have no record: introspection refuses them because the
	// client is gone.)
	DeleteClient(ctx context.Context, id string, at time.Time) error
	// ClientsByCertificateAuth returns the enabled clients whose
	// token_endpoint_auth_method is tls_client_auth or
	// self_signed_tls_client_auth (RFC 8705), ordered by id.
	ClientsByCertificateAuth(ctx context.Context) ([]*Client, error)
}

// TokenKind names what a TokenRecord holds.
type TokenKind string

// Token kinds.
const (
	KindCode    TokenKind = "code"
	KindAccess  TokenKind = "access"
	KindRefresh TokenKind = "refresh"
	KindPKCE    TokenKind = "pkce"
	KindOIDC    TokenKind = "oidc"
)

// TokenState is the life-cycle state of a TokenRecord.
type TokenState string

// Token states.
const (
	StateActive  TokenState = "active"
	StateUsed    TokenState = "used"    // an authorization code that was redeemed
	StateRotated TokenState = "rotated" // a refresh token replaced by a newer one
	StateRevoked TokenState = "revoked"
)

// TokenRecord is one stored grant artefact. Signature is the hex SHA-256 of
// fosite's token signature: the raw token is never stored.
type TokenRecord struct {
	Kind            TokenKind
	Signature       string
	RequestID       string
	ClientID        string
	Subject         string
	AccessSignature string // refresh tokens: the access token issued with it
	// SessionID is the log-in session of an online_access-only grant.
	SessionID   string
	State       TokenState
	StateAt     time.Time
	RequestedAt time.Time
	ExpiresAt   time.Time
	// Data is the serialised request (scopes, form, session).
	Data []byte
}

// TokenStore keeps codes, tokens and the PKCE / OIDC request sessions.
type TokenStore interface {
	CreateToken(ctx context.Context, rec TokenRecord) error
	// GetToken returns the record in any state, or store.ErrNotFound.
	GetToken(ctx context.Context, kind TokenKind, signature string) (TokenRecord, error)
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// SetTokenState changes one record's state to state, only when it is
	// in state from (any state when from is ""): store.ErrNotFound if
	// absent, store.ErrConflict if in another state (compare-and-set, so
	// that of two concurrent redemptions of a code only one wins).
	SetTokenState(ctx context.Context, kind TokenKind, signature string, from, state TokenState, at time.Time) error
	// RotateRefreshToken marks the refresh token signature (when active) as
	// rotated at at, and revokes every other active refresh token of the
	// grant requestID (a successor issued for a response the client lost).
	RotateRefreshToken(ctx context.Context, requestID, signature string, at time.Time) error
	// RevokeTokens marks every record of kind belonging to requestID revoked.
	RevokeTokens(ctx context.Context, kind TokenKind, requestID string, at time.Time) error
	// RevokeSessionTokens revokes the access and refresh tokens bound to a
	// log-in session (online_access grants).
	RevokeSessionTokens(ctx context.Context, sessionID string, at time.Time) error
	// RevokeSubjectTokens revokes the access and refresh tokens of a subject,
	// only those of clientID when it is not empty.
	RevokeSubjectTokens(ctx context.Context, subject, clientID string, at time.Time) error
	// DeleteExpiredTokens removes records (and revoked-jti entries) that
	// expired before before.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error)
	// RevokeAccessJTI durably records that the stateless access token jti
	// of clientID (client_credentials: no TokenRecord) is revoked; it is
	// kept until exp. Revoking twice is not an error.
	RevokeAccessJTI(ctx context.Context, jti, clientID string, exp time.Time) error
	// AccessJTIRevoked reports whether jti was recorded by RevokeAccessJTI.
	AccessJTIRevoked(ctx context.Context, jti string) (bool, error)
}

// JTIStore remembers client-assertion ids until they expire.
type JTIStore interface {
	// UseJTI records jti until exp; store.ErrConflict when it is already
	// recorded and unexpired (a replay).
	UseJTI(ctx context.Context, jti string, exp time.Time, now time.Time) error
}

// SigningKey is one of the server's private signing keys.
type SigningKey struct {
	ID         string
	Alg        string // ES256 or RS256
	PrivateDER []byte // PKCS#8
	CreatedAt  time.Time
	RetiredAt  time.Time // zero while the key signs
}

// KeyStore keeps the server's signing keys.
type KeyStore interface {
	// SigningKeys returns every stored key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k and, in the same transaction, retires (at
	// k.CreatedAt) every active key of the same algorithm. When onlyIfNone is
	// set and an active key of that algorithm exists, nothing is stored and
	// store.ErrConflict is returned (first start by concurrent processes).
	AddSigningKey(ctx context.Context, k SigningKey, onlyIfNone bool) error
	// DeleteSigningKeys removes keys retired before before.
	DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) error
}
