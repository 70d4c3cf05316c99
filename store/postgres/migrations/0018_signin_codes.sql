-- Issue 12: administrator-issued one-time sign-in codes. Only the SHA-256
-- of the normalised code is kept (the key of the single-use lookup);
-- issued_by is the administrator's account id. Times are BIGINT Unix
-- microseconds (see 0001). Deleting an account deletes its codes;
-- deactivating one deletes them too (the store does).
CREATE TABLE signin_codes (
	hash      BYTEA PRIMARY KEY,
	user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	issued_by TEXT NOT NULL DEFAULT '',
	created   BIGINT NOT NULL,
	expires   BIGINT NOT NULL
);
CREATE INDEX signin_codes_user ON signin_codes (user_id);
