-- Second factor (issue 10): one TOTP enrolment per account and its recovery
-- codes, deleted with the account. Times are BIGINT Unix microseconds.
CREATE TABLE second_factors (
	user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
	secret BYTEA NOT NULL,               -- the TOTP key (a credential; stored as is)
	created BIGINT NOT NULL,
	confirmed BIGINT NOT NULL DEFAULT 0, -- 0: enrolment begun, not confirmed (does not count)
	last_step BIGINT NOT NULL DEFAULT 0  -- last TOTP time step accepted (replay protection)
);

CREATE TABLE second_factor_recovery (
	user_id TEXT NOT NULL REFERENCES second_factors(user_id) ON DELETE CASCADE,
	hash BYTEA NOT NULL,                 -- SHA-256 of the code (see account/secondfactor_recovery.go)
	PRIMARY KEY (user_id, hash)
);
