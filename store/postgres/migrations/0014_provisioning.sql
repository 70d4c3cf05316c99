-- Issue 11: who may call SCIM. Two administrator-only client flags
-- (authz.Client.AllowSystemScopes, AllowSCIM) and the provisioning tokens
-- an administrator issues for one client (Entra ID's and Okta's static
-- "secret token"): only the SHA-256 of each token is stored. Deleting a
-- client deletes its tokens.
ALTER TABLE oauth_clients ADD COLUMN allow_system_scopes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN allow_scim BIGINT NOT NULL DEFAULT 0;
-- Symmetric backends that exist already were made by an administrator with
-- the CLI, which let them use their system/ scopes: they keep doing so.
-- (ILIKE: SQLite's LIKE ignores ASCII case.)
UPDATE oauth_clients SET allow_system_scopes = 1
	WHERE token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post')
	AND grant_types ILIKE '%"client_credentials"%';

CREATE TABLE provisioning_tokens (
	id           TEXT PRIMARY KEY,
	client_id    TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
	label        TEXT NOT NULL,
	token_hash   BYTEA NOT NULL UNIQUE,
	created_by   TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0,
	revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX provisioning_tokens_client ON provisioning_tokens (client_id, created_at);
