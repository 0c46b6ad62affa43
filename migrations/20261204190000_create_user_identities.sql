-- Single sign-on accounts (issue 7).
--
-- A person known to an identity provider is (issuer, subject) — never the e-mail address,
-- which a provider may reuse or let people change. Like users and sessions, identities belong
-- to a person, not to a tenant: no `tenant_id`, reached only by the sign-in code. Two providers
-- issuing the same subject are two identities.
CREATE TABLE user_identities (
    issuer           text        NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2000),
    subject          text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    user_id          uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);
GRANT SELECT, INSERT, UPDATE ON user_identities TO nimbus_app;

-- Roles a provider's group mapping granted. Each sign-in through that provider replaces them;
-- roles granted by hand (NULL) are never touched; deleting the provider removes its grants.
ALTER TABLE role_bindings
    ADD COLUMN identity_provider_id uuid,
    ADD FOREIGN KEY (tenant_id, identity_provider_id)
        REFERENCES identity_providers (tenant_id, id) ON DELETE CASCADE;

-- A provider identity whose verified e-mail address belongs to an existing account waits here
-- until that account's password is entered (linking never happens on the address alone).
-- Single use, ten minutes; reached before the tenant is known by presenting the secret of the
-- browser's cookie (its hash as `app.credential_hash`), like `sso_logins`.
CREATE TABLE sso_pending_links (
    secret_hash  bytea       PRIMARY KEY,
    tenant_id    uuid        NOT NULL,
    provider_id  uuid        NOT NULL,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer       text        NOT NULL,
    subject      text        NOT NULL,
    groups       text[]      NOT NULL,
    next         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, provider_id) REFERENCES identity_providers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_pending_links_expiry_idx ON sso_pending_links (expires_at);
ALTER TABLE sso_pending_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_pending_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_pending_links
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR secret_hash = decode(NULLIF(current_setting('app.credential_hash', true), ''), 'hex'))
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON sso_pending_links TO nimbus_app;

-- The sign-in page finds a tenant by the e-mail domain someone types: the tenants with an
-- enabled provider that admits that domain. Under the providers' policy no query sees across
-- tenants, so this runs as `nimbus_sign_in` (cannot log in, may read only the columns named
-- below) and returns tenant ids only.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nimbus_sign_in') THEN
        CREATE ROLE nimbus_sign_in NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT nimbus_sign_in TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO nimbus_sign_in;
GRANT SELECT (tenant_id, allowed_domains, enabled) ON identity_providers TO nimbus_sign_in;
CREATE POLICY sign_in ON identity_providers FOR SELECT TO nimbus_sign_in USING (true);
CREATE INDEX identity_providers_domains_idx ON identity_providers USING gin (allowed_domains);

CREATE FUNCTION sign_in_tenants_for_domain(domain text) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT tenant_id FROM identity_providers
    WHERE enabled AND allowed_domains @> ARRAY[lower(domain)]
    LIMIT 20
$$;
ALTER FUNCTION sign_in_tenants_for_domain(text) OWNER TO nimbus_sign_in;
REVOKE ALL ON FUNCTION sign_in_tenants_for_domain(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sign_in_tenants_for_domain(text) TO nimbus_app;
