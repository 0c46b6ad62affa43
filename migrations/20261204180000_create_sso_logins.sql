-- Single sign-ons in flight (issue 7): one row from the redirect to the provider until the
-- callback consumes it — single use, ten minutes at most. Before any tenant is known the
-- callback reaches its row only by presenting the `state` the provider handed back (its hash
-- as `app.credential_hash`, like API tokens); the browser that started the sign-in must also
-- present the cookie whose hash is `browser_hash`.
CREATE TABLE sso_logins (
    state_hash     bytea       PRIMARY KEY,
    browser_hash   bytea       NOT NULL,
    tenant_id      uuid        NOT NULL,
    provider_id    uuid        NOT NULL,
    nonce          text        NOT NULL,
    pkce_verifier  text        NOT NULL,
    next           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, provider_id) REFERENCES identity_providers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_logins_expiry_idx ON sso_logins (expires_at);
ALTER TABLE sso_logins ENABLE ROW LEVEL SECURITY;
ALTER TABLE sso_logins FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sso_logins
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR state_hash = decode(NULLIF(current_setting('app.credential_hash', true), ''), 'hex'))
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON sso_logins TO nimbus_app;
