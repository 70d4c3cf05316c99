-- Log-in lockouts (issue 11): the account keys that account.Throttle locked
-- (a user name's passwords, an account's second factor), until when (BIGINT
-- Unix microseconds), so that a restart keeps them and `smartgate user
-- unlock` can lift one that a running server holds. Per-address limits are
-- not stored. Rows that have ended are pruned when a lockout is recorded (a
-- scan: the table holds the running lockouts only, so it stays small).
CREATE TABLE login_lockouts (
	key TEXT PRIMARY KEY,
	until BIGINT NOT NULL
);
