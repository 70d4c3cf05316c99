-- Local accounts (SCIM core User + smartgate extension), remembered consent,
-- server-side log-in sessions and pending authorization requests.
CREATE TABLE users (
	id TEXT PRIMARY KEY,                 -- uuid
	user_name TEXT NOT NULL UNIQUE,      -- PRECIS UsernameCaseMapped form
	given_name TEXT NOT NULL DEFAULT '',
	family_name TEXT NOT NULL DEFAULT '',
	formatted_name TEXT NOT NULL DEFAULT '',
	display_name TEXT NOT NULL DEFAULT '',
	active INTEGER NOT NULL DEFAULT 1,
	password_hash TEXT NOT NULL DEFAULT '', -- argon2id PHC string, or '' (no local password)
	fhir_user TEXT NOT NULL DEFAULT '',  -- e.g. Patient/123
	roles TEXT NOT NULL DEFAULT '',      -- space-separated
	created TEXT NOT NULL,
	last_modified TEXT NOT NULL,
	version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE user_emails (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	value TEXT NOT NULL,
	type TEXT NOT NULL DEFAULT '',
	is_primary INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, position)
);
CREATE INDEX user_emails_value ON user_emails(value COLLATE NOCASE);

CREATE TABLE consents (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	client_id TEXT NOT NULL,
	scopes TEXT NOT NULL,                -- space-separated, as approved
	created TEXT NOT NULL,
	updated TEXT NOT NULL,
	PRIMARY KEY (user_id, client_id)
);

CREATE TABLE web_sessions (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	auth_time TEXT NOT NULL,
	amr TEXT NOT NULL DEFAULT '',
	created TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	ended_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);

CREATE TABLE pending_authorizations (
	browser_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	request BLOB NOT NULL,
	decision BLOB,
	created TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	PRIMARY KEY (browser_id, request_id)
);
CREATE INDEX pending_authorizations_expires ON pending_authorizations(expires_at);
