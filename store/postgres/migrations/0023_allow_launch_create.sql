-- Issue 15 item 9: an administrator-only client flag
-- (authz.Client.AllowLaunchCreate) that lets the client be granted the
-- launch:create scope and create EHR launches through the launch API.
ALTER TABLE oauth_clients ADD COLUMN allow_launch_create BIGINT NOT NULL DEFAULT 0;
