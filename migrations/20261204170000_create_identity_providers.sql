-- Single sign-on (issue 7): a tenant's identity providers.

CREATE TABLE identity_providers (
    id                        uuid        PRIMARY KEY,
    tenant_id                 uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                      text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind                      text        NOT NULL CHECK (kind IN ('oidc', 'github')),
    preset                    text        CHECK (preset IN ('entra_id', 'google', 'okta', 'keycloak')),
    -- OIDC: the issuer, compared exactly with the ID token's `iss`.
    issuer                    text        CHECK ((kind = 'oidc') = (issuer IS NOT NULL)),
    client_id                 text        NOT NULL CHECK (length(client_id) BETWEEN 1 AND 500),
    -- The client secret, envelope-encrypted (backend/src/secrets.rs), bound to (tenant, id).
    secret_key_version        integer,
    secret_wrapped_key        bytea,
    client_secret             bytea,
    scopes                    text[]      NOT NULL DEFAULT '{}',
    groups_claim              text,
    allowed_domains           text[]      NOT NULL DEFAULT '{}',
    role_mappings             jsonb       NOT NULL DEFAULT '[]',
    default_role              text        NOT NULL DEFAULT 'viewer'
                                          CHECK (default_role IN ('owner', 'admin', 'operator', 'finance', 'viewer')),
    enabled                   boolean     NOT NULL DEFAULT true,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id),
    CHECK ((client_secret IS NULL) = (secret_wrapped_key IS NULL)
           AND (client_secret IS NULL) = (secret_key_version IS NULL))
);
ALTER TABLE identity_providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE identity_providers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity_providers
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON identity_providers TO nimbus_app;
