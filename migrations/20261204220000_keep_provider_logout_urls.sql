-- Where signing out of a session that began at an identity provider ends the provider's session
-- too (RP-initiated logout), worked out at sign-in from the provider's discovery document: the
-- sign-out itself then needs neither the provider's tenant nor the provider being up.
ALTER TABLE sessions ADD COLUMN provider_logout_url text CHECK (length(provider_logout_url) <= 4000);
ALTER TABLE sso_pending_links ADD COLUMN provider_logout_url text;
