-- Revoked client_credentials access tokens. Those tokens are stateless
-- signed JWTs (no oauth_tokens row); RFC 7009 revocation records their jti
-- here until the token would have expired anyway.
CREATE TABLE oauth_revoked_access (
	jti TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_revoked_access_expires ON oauth_revoked_access(expires_at);
