-- Issue 12: links of federated identities to accounts. An identity is
-- named by (issuer, subject) and nothing else, so that is the key: one
-- identity links one account at most; an account may hold several. Only the
-- link is kept, never the provider's tokens; email is the provider's email
-- when the link was made (shown to administrators, never used to find the
-- account). Times are BIGINT Unix microseconds (see 0001), last_login 0
-- until the first log-in through the link. Deleting an account deletes its
-- links.
CREATE TABLE identity_links (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	provider   TEXT NOT NULL,
	email      TEXT NOT NULL DEFAULT '',
	created    BIGINT NOT NULL,
	last_login BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (issuer, subject)
);
CREATE INDEX identity_links_user ON identity_links (user_id, created);
