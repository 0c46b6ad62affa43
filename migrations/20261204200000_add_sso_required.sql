-- A tenant may require single sign-on (issue 7): password sign-ins into it are refused, except
-- for one break-glass Owner who keeps a way in when the provider fails.
ALTER TABLE tenants
    ADD COLUMN sso_required boolean NOT NULL DEFAULT false,
    ADD COLUMN break_glass_owner uuid REFERENCES users (id);

-- The provider a browser session was signed in through (NULL: a password). A tenant that
-- requires single sign-on admits only sessions of its own providers (and its break-glass
-- Owner's).
ALTER TABLE sessions ADD COLUMN identity_provider_id uuid;
