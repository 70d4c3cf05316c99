-- Issue 12: administrator-issued one-time sign-in codes. Only the SHA-256
-- of the normalised code is kept (the key of the single-use lookup);
-- issued_by is the administrator's account id. Times are INTEGER Unix
-- microseconds (migration 10). Deleting an account deletes its codes;
-- deactivating one deletes them too (the store does).
CREATE TABLE signin_codes (
	hash      BLOB PRIMARY KEY,
	user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	issued_by TEXT NOT NULL DEFAULT '',
	created   INTEGER NOT NULL,
	expires   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX signin_codes_user ON signin_codes (user_id);
