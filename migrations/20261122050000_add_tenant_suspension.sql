-- A platform administrator can suspend a tenant: while `suspended_at` is set, no membership in it
-- is active, so no session, access token or API token acts in it. Nothing is deleted, and resuming
-- restores every access as it was.
ALTER TABLE tenants ADD COLUMN suspended_at timestamptz;
