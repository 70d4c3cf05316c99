-- SMART EHR launches (App Launch IG #launch-app-ehr-launch): each row is one
-- launch value handed to an app, keyed by the SHA-256 of the value (never the
-- value itself). A launch is bound to one client, short-lived and single-use
-- (used_at is set once, atomically, when a code is issued for it).
CREATE TABLE smart_launches (
	hash BYTEA PRIMARY KEY,          -- SHA-256 of the launch value
	client_id TEXT NOT NULL,
	issuer TEXT NOT NULL,            -- the FHIR base given to the app as iss
	context TEXT NOT NULL,           -- JSON: patient, encounter, fhirContext, intent, banner, style
	created_by TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at BIGINT NOT NULL DEFAULT 0 -- 0: not used
);
CREATE INDEX smart_launches_expires ON smart_launches(expires_at);
