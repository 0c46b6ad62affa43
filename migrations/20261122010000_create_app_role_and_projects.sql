-- The second wall of tenant isolation (docs/decisions/0004-row-level-security.md).
--
-- `nimbus_app` is the role every application query runs as: the server's pool switches to it
-- on each new connection. It owns no table and cannot bypass row-level security. The role that
-- runs migrations (the DATABASE_URL user) owns the tables and is made a member of it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nimbus_app') THEN
        CREATE ROLE nimbus_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT nimbus_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO nimbus_app;
-- Readiness compares the applied migrations with the binary's.
GRANT SELECT ON _sqlx_migrations TO nimbus_app;

-- Tenants are the root of isolation, not tenant-owned rows: no RLS here; which tenants a
-- principal may see is decided by its memberships.
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO nimbus_app;

-- Projects group resources and costs inside a tenant.
CREATE TABLE projects (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
CREATE INDEX projects_tenant_idx ON projects (tenant_id);

-- Every tenant-owned table gets exactly this treatment: ENABLE + FORCE and one policy on the
-- transaction-local `app.tenant_id`. NULLIF: a pooled connection that once set it reads back
-- '' (not NULL) afterwards, which must match nothing rather than fail to cast.
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO nimbus_app;
