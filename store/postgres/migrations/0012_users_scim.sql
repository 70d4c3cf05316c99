-- Issue 11: the SCIM attributes of a person that smartgate keeps.
--
-- externalId (the provisioning client's id, case-exact, filtered by every
-- provisioning client) is a column with an index. The attributes that are
-- kept but rarely filtered on (nickName, title, userType, profileUrl,
-- preferredLanguage, locale, timezone, the rest of name, and the enterprise
-- extension) are one JSON object in attrs (TEXT, as in SQLite, so that both
-- backends hold the same bytes; SQLite reads it with json_extract, here
-- attrs::jsonb ->> 'key' does); absent keys are empty values. Phone
-- numbers are rows, like e-mails, so that a complex filter
-- (phoneNumbers[type eq "work" and value sw "+41"]) looks at one number at
-- a time.
ALTER TABLE users ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}';
CREATE INDEX users_external_id ON users(external_id);
-- The default order of a search (creation, then id).
CREATE INDEX users_created ON users(created, id);

CREATE TABLE user_phone_numbers (
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	position BIGINT NOT NULL,
	value TEXT NOT NULL,
	type TEXT NOT NULL DEFAULT '',
	is_primary BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, position)
);
