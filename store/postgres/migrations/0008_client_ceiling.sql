-- Issue 9: what an RFC 7592 update with the registration access token may
-- change a client to (its ceiling: scopes, grant types and authentication
-- method after the last administrator action), when that token expires, and
-- whether an administrator allowed the client to introspect every client's
-- tokens. Existing clients get their current values as ceiling; existing
-- registration access tokens live one more day.
ALTER TABLE oauth_clients ADD COLUMN ceiling_scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN ceiling_grant_types TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN ceiling_auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN registration_token_expires_at BIGINT NOT NULL DEFAULT 0; -- 0: no expiry set
ALTER TABLE oauth_clients ADD COLUMN introspect_all BIGINT NOT NULL DEFAULT 0;
UPDATE oauth_clients SET ceiling_scopes = scopes, ceiling_grant_types = grant_types,
	ceiling_auth_method = token_endpoint_auth_method;
-- Now plus one day, in whole seconds (as SQLite's strftime wrote it), as
-- Unix microseconds.
UPDATE oauth_clients SET registration_token_expires_at = (floor(extract(epoch FROM now()))::bigint + 86400) * 1000000
	WHERE registration_token_hash IS NOT NULL;
