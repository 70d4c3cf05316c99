-- OAuth 2.0 / OpenID Connect: clients, token records (keyed by the SHA-256 of
-- fosite's token signature, never the raw token), client-assertion jti
-- replay cache and the server's signing keys.
CREATE TABLE oauth_clients (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL DEFAULT '',
	secret_hash BYTEA,                       -- SHA-256 of the secret; NULL for public / private_key_jwt clients
	redirect_uris TEXT NOT NULL DEFAULT '[]', -- JSON array
	grant_types TEXT NOT NULL DEFAULT '[]',
	response_types TEXT NOT NULL DEFAULT '[]',
	scopes TEXT NOT NULL DEFAULT '[]',
	token_endpoint_auth_method TEXT NOT NULL,
	jwks TEXT NOT NULL DEFAULT '',
	jwks_uri TEXT NOT NULL DEFAULT '',
	launch_uri TEXT NOT NULL DEFAULT '',
	logo_uri TEXT NOT NULL DEFAULT '',
	client_uri TEXT NOT NULL DEFAULT '',
	require_pkce BIGINT NOT NULL DEFAULT 1,
	public BIGINT NOT NULL DEFAULT 0,
	disabled BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL
);

-- kind: code, access, refresh, pkce, oidc. state: active, used (codes),
-- rotated (refresh tokens replaced by a newer one), revoked.
CREATE TABLE oauth_tokens (
	kind TEXT NOT NULL,
	signature TEXT NOT NULL,
	request_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	access_signature TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',      -- log-in session of an online_access-only grant
	state TEXT NOT NULL DEFAULT 'active',
	state_at BIGINT NOT NULL DEFAULT 0,       -- 0: state never changed
	requested_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,               -- 0: does not expire
	data BYTEA NOT NULL,
	PRIMARY KEY (kind, signature)
);
CREATE INDEX oauth_tokens_request ON oauth_tokens(request_id, kind);
CREATE INDEX oauth_tokens_expires ON oauth_tokens(expires_at);
CREATE INDEX oauth_tokens_subject ON oauth_tokens(subject, kind);
CREATE INDEX oauth_tokens_session ON oauth_tokens(session_id) WHERE session_id <> '';

CREATE TABLE oauth_jti (
	jti TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

CREATE TABLE oauth_keys (
	kid TEXT PRIMARY KEY,
	alg TEXT NOT NULL,
	private_key BYTEA NOT NULL, -- PKCS#8 DER
	created_at BIGINT NOT NULL,
	retired_at BIGINT NOT NULL DEFAULT 0 -- 0: in use
);
