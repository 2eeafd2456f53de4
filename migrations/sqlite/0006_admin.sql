-- The admin plugin: roles and bans on users, and who is impersonating on a session. Added whether or
-- not the plugin is on, like the organization tables, so it can be turned on later without a step.
ALTER TABLE kavach_user ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE kavach_user ADD COLUMN banned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kavach_user ADD COLUMN ban_reason TEXT;
ALTER TABLE kavach_user ADD COLUMN ban_expires INTEGER;
-- The admin's user id when an admin opened this session to act as its user (never slides).
ALTER TABLE kavach_session ADD COLUMN impersonated_by TEXT;
