-- Dynamic client registration (RFC 7591/7592): the remaining client
-- metadata, the SHA-256 of the registration access token (never the token),
-- how the client was registered, and self-service ownership / approval.
ALTER TABLE oauth_clients ADD COLUMN contacts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN tos_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN policy_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN software_id TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN software_version TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN registration_token_hash BYTEA;  -- SHA-256; NULL: no RFC 7592 access
ALTER TABLE oauth_clients ADD COLUMN policy TEXT NOT NULL DEFAULT 'admin'; -- admin, open, self
ALTER TABLE oauth_clients ADD COLUMN owner TEXT NOT NULL DEFAULT '';  -- user id of a self-registered client
ALTER TABLE oauth_clients ADD COLUMN pending BIGINT NOT NULL DEFAULT 0;
CREATE INDEX oauth_clients_owner ON oauth_clients(owner) WHERE owner <> '';
