-- Core tables: settings (generated secrets such as session keys) and the audit log.
CREATE TABLE settings (
	key TEXT PRIMARY KEY,
	value BLOB NOT NULL,
	updated_at TEXT NOT NULL
);

-- One row per security-relevant event: log-in, consent, token issue, refresh,
-- revocation, OWin use, FHIR access. Never holds a secret or a token.
CREATE TABLE audit_events (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	at TEXT NOT NULL,              -- RFC 3339 UTC with nanoseconds
	kind TEXT NOT NULL,            -- e.g. login, consent, token, refresh, revoke, owin, fhir
	actor TEXT NOT NULL DEFAULT '', -- user id or subject
	client_id TEXT NOT NULL DEFAULT '',
	patient TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL DEFAULT '',   -- interaction or grant type
	resource TEXT NOT NULL DEFAULT '', -- e.g. Observation/123
	scopes TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL,          -- success, failure, denied
	detail TEXT NOT NULL DEFAULT '',
	address TEXT NOT NULL DEFAULT '',
	request_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_actor ON audit_events(actor, at);
