-- Issue 10: one timestamp representation. Every timestamp column becomes
-- INTEGER Unix microseconds (UTC), the precision of PostgreSQL's timestamptz;
-- "unset" (a session not ended, a launch not used, a key not retired, a
-- token state never changed, no registration token expiry), which was the
-- empty string, becomes 0. The text columns held RFC 3339 UTC times with 0
-- to 9 fraction digits; the FHIR tables held Unix milliseconds.
--
-- A column's type cannot be changed in place, and an integer written into a
-- TEXT column would be stored as text, so each table is rebuilt: create the
-- new table, copy with the conversion, drop the old one, rename, recreate its
-- indexes. Open runs migrations with foreign keys off (the rebuild of users
-- must not cascade into the tables that reference it) and checks them before
-- committing. schema_migrations.applied_at is bookkeeping, never read, and
-- stays text.

CREATE TABLE settings_new (
	key TEXT PRIMARY KEY,
	value BLOB NOT NULL,
	updated_at INTEGER NOT NULL
);
INSERT INTO settings_new (key, value, updated_at)
	SELECT key, value,
		CASE WHEN updated_at = '' THEN 0 ELSE unixepoch(substr(updated_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(updated_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM settings;
DROP TABLE settings;
ALTER TABLE settings_new RENAME TO settings;

CREATE TABLE audit_events_new (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	actor TEXT NOT NULL DEFAULT '',
	client_id TEXT NOT NULL DEFAULT '',
	patient TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL DEFAULT '',
	resource TEXT NOT NULL DEFAULT '',
	scopes TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL,
	detail TEXT NOT NULL DEFAULT '',
	address TEXT NOT NULL DEFAULT '',
	request_id TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_events_new (id, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id, at)
	SELECT id, kind, actor, client_id, patient, action, resource, scopes, outcome, detail, address, request_id,
		CASE WHEN at = '' THEN 0 ELSE unixepoch(substr(at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_actor ON audit_events(actor, at);

CREATE TABLE users_new (
	id TEXT PRIMARY KEY,
	user_name TEXT NOT NULL UNIQUE,
	given_name TEXT NOT NULL DEFAULT '',
	family_name TEXT NOT NULL DEFAULT '',
	formatted_name TEXT NOT NULL DEFAULT '',
	display_name TEXT NOT NULL DEFAULT '',
	active INTEGER NOT NULL DEFAULT 1,
	password_hash TEXT NOT NULL DEFAULT '',
	fhir_user TEXT NOT NULL DEFAULT '',
	roles TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	last_modified INTEGER NOT NULL,
	version INTEGER NOT NULL DEFAULT 1
);
INSERT INTO users_new (id, user_name, given_name, family_name, formatted_name, display_name, active, password_hash, fhir_user, roles, version, created, last_modified)
	SELECT id, user_name, given_name, family_name, formatted_name, display_name, active, password_hash, fhir_user, roles, version,
		CASE WHEN created = '' THEN 0 ELSE unixepoch(substr(created, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN last_modified = '' THEN 0 ELSE unixepoch(substr(last_modified, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(last_modified, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE TABLE consents_new (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	client_id TEXT NOT NULL,
	scopes TEXT NOT NULL,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (user_id, client_id)
);
INSERT INTO consents_new (user_id, client_id, scopes, created, updated)
	SELECT user_id, client_id, scopes,
		CASE WHEN created = '' THEN 0 ELSE unixepoch(substr(created, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN updated = '' THEN 0 ELSE unixepoch(substr(updated, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(updated, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM consents;
DROP TABLE consents;
ALTER TABLE consents_new RENAME TO consents;

CREATE TABLE web_sessions_new (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	auth_time INTEGER NOT NULL,
	amr TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	ended_at INTEGER NOT NULL DEFAULT 0               -- 0: not ended
);
INSERT INTO web_sessions_new (id, user_id, amr, auth_time, created, expires_at, ended_at)
	SELECT id, user_id, amr,
		CASE WHEN auth_time = '' THEN 0 ELSE unixepoch(substr(auth_time, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(auth_time, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN created = '' THEN 0 ELSE unixepoch(substr(created, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN expires_at = '' THEN 0 ELSE unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN ended_at = '' THEN 0 ELSE unixepoch(substr(ended_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(ended_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM web_sessions;
DROP TABLE web_sessions;
ALTER TABLE web_sessions_new RENAME TO web_sessions;
CREATE INDEX web_sessions_user ON web_sessions(user_id);

CREATE TABLE pending_authorizations_new (
	browser_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	request BLOB NOT NULL,
	decision BLOB,
	created INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (browser_id, request_id)
);
INSERT INTO pending_authorizations_new (browser_id, request_id, request, decision, created, expires_at)
	SELECT browser_id, request_id, request, decision,
		CASE WHEN created = '' THEN 0 ELSE unixepoch(substr(created, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN expires_at = '' THEN 0 ELSE unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM pending_authorizations;
DROP TABLE pending_authorizations;
ALTER TABLE pending_authorizations_new RENAME TO pending_authorizations;
CREATE INDEX pending_authorizations_expires ON pending_authorizations(expires_at);

CREATE TABLE oauth_clients_new (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL DEFAULT '',
	secret_hash BLOB,
	redirect_uris TEXT NOT NULL DEFAULT '[]',
	grant_types TEXT NOT NULL DEFAULT '[]',
	response_types TEXT NOT NULL DEFAULT '[]',
	scopes TEXT NOT NULL DEFAULT '[]',
	token_endpoint_auth_method TEXT NOT NULL,
	jwks TEXT NOT NULL DEFAULT '',
	jwks_uri TEXT NOT NULL DEFAULT '',
	launch_uri TEXT NOT NULL DEFAULT '',
	logo_uri TEXT NOT NULL DEFAULT '',
	client_uri TEXT NOT NULL DEFAULT '',
	require_pkce INTEGER NOT NULL DEFAULT 1,
	public INTEGER NOT NULL DEFAULT 0,
	disabled INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	contacts TEXT NOT NULL DEFAULT '[]',
	tos_uri TEXT NOT NULL DEFAULT '',
	policy_uri TEXT NOT NULL DEFAULT '',
	post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
	software_id TEXT NOT NULL DEFAULT '',
	software_version TEXT NOT NULL DEFAULT '',
	registration_token_hash BLOB,
	policy TEXT NOT NULL DEFAULT 'admin',
	owner TEXT NOT NULL DEFAULT '',
	pending INTEGER NOT NULL DEFAULT 0,
	ceiling_scopes TEXT NOT NULL DEFAULT '[]',
	ceiling_grant_types TEXT NOT NULL DEFAULT '[]',
	ceiling_auth_method TEXT NOT NULL DEFAULT '',
	registration_token_expires_at INTEGER NOT NULL DEFAULT 0, -- 0: no expiry set
	introspect_all INTEGER NOT NULL DEFAULT 0
);
INSERT INTO oauth_clients_new (id, name, secret_hash, redirect_uris, grant_types, response_types, scopes, token_endpoint_auth_method, jwks, jwks_uri, launch_uri, logo_uri, client_uri, require_pkce, public, disabled, contacts, tos_uri, policy_uri, post_logout_redirect_uris, software_id, software_version, registration_token_hash, policy, owner, pending, ceiling_scopes, ceiling_grant_types, ceiling_auth_method, introspect_all, created_at, registration_token_expires_at)
	SELECT id, name, secret_hash, redirect_uris, grant_types, response_types, scopes, token_endpoint_auth_method, jwks, jwks_uri, launch_uri, logo_uri, client_uri, require_pkce, public, disabled, contacts, tos_uri, policy_uri, post_logout_redirect_uris, software_id, software_version, registration_token_hash, policy, owner, pending, ceiling_scopes, ceiling_grant_types, ceiling_auth_method, introspect_all,
		CASE WHEN created_at = '' THEN 0 ELSE unixepoch(substr(created_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN registration_token_expires_at = '' THEN 0 ELSE unixepoch(substr(registration_token_expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(registration_token_expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM oauth_clients;
DROP TABLE oauth_clients;
ALTER TABLE oauth_clients_new RENAME TO oauth_clients;
CREATE INDEX oauth_clients_owner ON oauth_clients(owner) WHERE owner <> '';

CREATE TABLE oauth_tokens_new (
	kind TEXT NOT NULL,
	signature TEXT NOT NULL,
	request_id TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	access_signature TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'active',
	state_at INTEGER NOT NULL DEFAULT 0,              -- 0: state never changed
	requested_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,                      -- 0: does not expire
	data BLOB NOT NULL,
	PRIMARY KEY (kind, signature)
);
INSERT INTO oauth_tokens_new (kind, signature, request_id, client_id, subject, access_signature, session_id, state, data, state_at, requested_at, expires_at)
	SELECT kind, signature, request_id, client_id, subject, access_signature, session_id, state, data,
		CASE WHEN state_at = '' THEN 0 ELSE unixepoch(substr(state_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(state_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN requested_at = '' THEN 0 ELSE unixepoch(substr(requested_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(requested_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN expires_at = '' THEN 0 ELSE unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM oauth_tokens;
DROP TABLE oauth_tokens;
ALTER TABLE oauth_tokens_new RENAME TO oauth_tokens;
CREATE INDEX oauth_tokens_request ON oauth_tokens(request_id, kind);
CREATE INDEX oauth_tokens_expires ON oauth_tokens(expires_at);
CREATE INDEX oauth_tokens_subject ON oauth_tokens(subject, kind);
CREATE INDEX oauth_tokens_session ON oauth_tokens(session_id) WHERE session_id <> '';

CREATE TABLE oauth_jti_new (
	jti TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
);
INSERT INTO oauth_jti_new (jti, expires_at)
	SELECT jti,
		CASE WHEN expires_at = '' THEN 0 ELSE unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM oauth_jti;
DROP TABLE oauth_jti;
ALTER TABLE oauth_jti_new RENAME TO oauth_jti;

CREATE TABLE oauth_keys_new (
	kid TEXT PRIMARY KEY,
	alg TEXT NOT NULL,
	private_key BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER NOT NULL DEFAULT 0             -- 0: in use
);
INSERT INTO oauth_keys_new (kid, alg, private_key, created_at, retired_at)
	SELECT kid, alg, private_key,
		CASE WHEN created_at = '' THEN 0 ELSE unixepoch(substr(created_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN retired_at = '' THEN 0 ELSE unixepoch(substr(retired_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(retired_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM oauth_keys;
DROP TABLE oauth_keys;
ALTER TABLE oauth_keys_new RENAME TO oauth_keys;

CREATE TABLE smart_launches_new (
	hash BLOB PRIMARY KEY,
	client_id TEXT NOT NULL,
	issuer TEXT NOT NULL,
	context TEXT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at INTEGER NOT NULL DEFAULT 0                -- 0: not used
);
INSERT INTO smart_launches_new (hash, client_id, issuer, context, created_by, created_at, expires_at, used_at)
	SELECT hash, client_id, issuer, context, created_by,
		CASE WHEN created_at = '' THEN 0 ELSE unixepoch(substr(created_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(created_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN expires_at = '' THEN 0 ELSE unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END,
		CASE WHEN used_at = '' THEN 0 ELSE unixepoch(substr(used_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(used_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM smart_launches;
DROP TABLE smart_launches;
ALTER TABLE smart_launches_new RENAME TO smart_launches;
CREATE INDEX smart_launches_expires ON smart_launches(expires_at);

CREATE TABLE oauth_revoked_access_new (
	jti TEXT PRIMARY KEY,
	client_id TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO oauth_revoked_access_new (jti, client_id, expires_at)
	SELECT jti, client_id,
		CASE WHEN expires_at = '' THEN 0 ELSE unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(rtrim(substr(expires_at, 21), 'Z') || '000000', 1, 6) AS INTEGER) END
	FROM oauth_revoked_access;
DROP TABLE oauth_revoked_access;
ALTER TABLE oauth_revoked_access_new RENAME TO oauth_revoked_access;
CREATE INDEX oauth_revoked_access_expires ON oauth_revoked_access(expires_at);

-- The FHIR tables' INTEGER milliseconds become microseconds in place.
UPDATE fhir_resources SET last_updated = last_updated * 1000;
UPDATE fhir_history SET last_updated = last_updated * 1000;
