-- Single sign-ons in flight (issue 7): one row from the redirect to the provider until the
-- callback consumes it — single use, ten minutes at most. Reached only by the hash of the
-- `state` the provider hands back (like one-time links, before any tenant is known); the
-- browser that started the sign-in must present the cookie whose hash is `browser_hash`.
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
GRANT SELECT, INSERT, DELETE ON sso_logins TO nimbus_app;
