-- Issue 11: SCIM groups, with the roles membership gives and the scope
-- ceiling that narrows the members' tokens.
CREATE TABLE groups (
	id TEXT PRIMARY KEY,                 -- uuid
	display_name TEXT NOT NULL,          -- unique, case-insensitively (index below)
	external_id TEXT NOT NULL DEFAULT '',
	roles TEXT NOT NULL DEFAULT '',      -- space-separated account roles
	ceiling TEXT,                        -- space-separated scopes; NULL: no ceiling ('' is an empty one)
	created BIGINT NOT NULL,             -- Unix µs
	last_modified BIGINT NOT NULL,
	version BIGINT NOT NULL DEFAULT 1
);
-- SQLite: UNIQUE ON groups(display_name COLLATE NOCASE). lower() under the
-- "C" collation folds ASCII letters only, as NOCASE does.
CREATE UNIQUE INDEX groups_display_name ON groups(lower(display_name COLLATE "C"));
CREATE INDEX groups_external_id ON groups(external_id);
CREATE INDEX groups_created ON groups(created, id);

-- Members are users (no nested groups). Deleting either side removes the
-- membership.
CREATE TABLE group_members (
	group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id, group_id);
