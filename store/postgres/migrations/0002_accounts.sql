-- Local accounts (SCIM core User + smartgate extension), remembered consent,
-- server-side log-in sessions and pending authorization requests.
CREATE TABLE users (
	id TEXT PRIMARY KEY,                 -- uuid
	user_name TEXT NOT NULL UNIQUE,      -- PRECIS UsernameCaseMapped form
	given_name TEXT NOT NULL DEFAULT '',
	family_name TEXT NOT NULL DEFAULT '',
	formatted_name TEXT NOT NULL DEFAULT '',
	display_name TEXT NOT NULL DEFAULT '',
	active BIGINT NOT NULL DEFAULT 1,
	password_hash TEXT NOT NULL DEFAULT '', -- argon2id PHC string, or '' (no local password)
	fhir_user TEXT NOT NULL DEFAULT '',  -- e.g. Patient/123
	roles TEXT NOT NULL DEFAULT '',      -- space-separated
	created BIGINT NOT NULL,
	last_modified BIGINT NOT NULL,
	version BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE user_emails (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	position BIGINT NOT NULL,
	value TEXT NOT NULL,
	type TEXT NOT NULL DEFAULT '',
	is_primary BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, position)
);
-- SQLite: ON user_emails(value COLLATE NOCASE).
CREATE INDEX user_emails_value ON user_emails(lower(value COLLATE "C"));

CREATE TABLE consents (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	client_id TEXT NOT NULL,
	scopes TEXT NOT NULL,                -- space-separated, as approved
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	PRIMARY KEY (user_id, client_id)
);

CREATE TABLE web_sessions (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	auth_time BIGINT NOT NULL,
	amr TEXT NOT NULL DEFAULT '',
	created BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	ended_at BIGINT NOT NULL DEFAULT 0   -- 0: not ended
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);

CREATE TABLE pending_authorizations (
	browser_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	request BYTEA NOT NULL,
	decision BYTEA,
	created BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (browser_id, request_id)
);
CREATE INDEX pending_authorizations_expires ON pending_authorizations(expires_at);
