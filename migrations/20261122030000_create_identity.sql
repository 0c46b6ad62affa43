-- Identity and access: users, memberships, roles and bindings, sessions, tokens, invitations.
--
-- Users, sessions and password resets belong to a person, not to a tenant: they carry no
-- `tenant_id` and are reached only through the authentication code. Everything a tenant owns is
-- under row-level security like `projects`, with one addition for credentials: a row whose
-- secret the caller presents (`app.credential_hash`, set transaction-locally while a credential
-- is checked) is visible before the tenant is known — knowing the secret is the proof.

-- Tenant settings.
ALTER TABLE tenants
    ADD COLUMN reporting_currency text NOT NULL DEFAULT 'USD' CHECK (reporting_currency ~ '^[A-Z]{3}$'),
    ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64);

-- Lets tenant-owned tables reference a project or role of the same tenant only.
ALTER TABLE projects ADD CONSTRAINT projects_tenant_id_id_key UNIQUE (tenant_id, id);

CREATE TABLE users (
    id              uuid        PRIMARY KEY,
    -- Stored lower-case: the address is a login name, compared exactly.
    email           text        NOT NULL UNIQUE CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    display_name    text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    -- NULL: no local password (invited and not yet accepted, or single sign-on only).
    password_hash   text,
    platform_admin  boolean     NOT NULL DEFAULT false,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON users TO nimbus_app;

CREATE TABLE memberships (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A tenant administrator disables a member in their tenant only; the account lives on
    -- elsewhere. Platform administrators disable the account itself (`users.disabled_at`).
    disabled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
-- A user also sees its own memberships in every tenant: that is how it picks one.
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON memberships TO nimbus_app;

-- Custom roles; the built-in ones are code (api-types `BuiltinRole`).
CREATE TABLE roles (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description  text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    permissions  text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);
ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON roles TO nimbus_app;

CREATE TABLE role_bindings (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL,
    user_id       uuid        NOT NULL,
    builtin_role  text        CHECK (builtin_role IN ('owner', 'admin', 'operator', 'finance', 'viewer')),
    role_id       uuid,
    -- NULL: the whole tenant.
    project_id    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(builtin_role, role_id) = 1),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX role_bindings_member_idx ON role_bindings (tenant_id, user_id);
CREATE UNIQUE INDEX role_bindings_unique_idx ON role_bindings
    (tenant_id, user_id, coalesce(builtin_role, role_id::text), coalesce(project_id, '00000000-0000-0000-0000-000000000000'));
ALTER TABLE role_bindings ENABLE ROW LEVEL SECURITY;
ALTER TABLE role_bindings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON role_bindings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
-- UPDATE only so removals can lock the Owner bindings (SELECT … FOR UPDATE); rows never change.
GRANT SELECT, INSERT, UPDATE, DELETE ON role_bindings TO nimbus_app;

-- Server-side sessions: browser sign-ins (cookie) and token-endpoint sign-ins (refresh family).
CREATE TABLE sessions (
    id                 uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind               text        NOT NULL CHECK (kind IN ('browser', 'token')),
    -- SHA-256 of the cookie secret (browser sessions only).
    secret_hash        bytea       UNIQUE,
    -- Sent back in `X-CSRF-Token` by the dashboard on every unsafe request.
    csrf_token         text,
    -- The tenant the session works in; switched by the user among its memberships.
    current_tenant_id  uuid        REFERENCES tenants (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_seen_at       timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    source_ip          inet,
    user_agent         text        CHECK (length(user_agent) <= 300)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
GRANT SELECT, INSERT, UPDATE ON sessions TO nimbus_app;

-- Rotating refresh tokens; a session is one family. Presenting a used one revokes the session.
CREATE TABLE refresh_tokens (
    id           uuid        PRIMARY KEY,
    session_id   uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    secret_hash  bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO nimbus_app;

CREATE TABLE api_tokens (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       uuid        NOT NULL,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The first characters of the token, shown in lists so people can tell tokens apart.
    display_prefix text       NOT NULL,
    secret_hash   bytea       NOT NULL UNIQUE,
    permissions   text[]      NOT NULL,
    project_id    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX api_tokens_tenant_idx ON api_tokens (tenant_id, created_at DESC);
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_tokens
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR secret_hash = decode(NULLIF(current_setting('app.credential_hash', true), ''), 'hex'))
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON api_tokens TO nimbus_app;

CREATE TABLE invitations (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         text        NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    builtin_role  text        CHECK (builtin_role IN ('owner', 'admin', 'operator', 'finance', 'viewer')),
    role_id       uuid,
    project_id    uuid,
    secret_hash   bytea       NOT NULL UNIQUE,
    invited_by    uuid        NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz,
    revoked_at    timestamptz,
    CHECK (num_nonnulls(builtin_role, role_id) = 1),
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, created_at DESC);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR secret_hash = decode(NULLIF(current_setting('app.credential_hash', true), ''), 'hex'))
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON invitations TO nimbus_app;

-- Single-use links: password resets, and the first platform administrator's setup (user NULL).
CREATE TABLE one_time_links (
    id           uuid        PRIMARY KEY,
    purpose      text        NOT NULL CHECK (purpose IN ('password_reset', 'platform_setup')),
    user_id      uuid        REFERENCES users (id) ON DELETE CASCADE,
    secret_hash  bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    CHECK ((purpose = 'password_reset') = (user_id IS NOT NULL))
);
GRANT SELECT, INSERT, UPDATE ON one_time_links TO nimbus_app;

-- Ed25519 keys that sign access tokens. The newest unretired key signs; every unretired key is
-- published in the JWKS so tokens signed before a rotation stay valid until they expire.
CREATE TABLE signing_keys (
    kid          text        PRIMARY KEY,
    private_key  bytea       NOT NULL,
    public_key   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
GRANT SELECT, INSERT, UPDATE ON signing_keys TO nimbus_app;
