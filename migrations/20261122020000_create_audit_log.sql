-- The audit log: one row per mutation and per authentication event, written in the same
-- transaction as the change (DESIGN.md §4.4). Append-only at the database level: the
-- application role may only insert and read, and a trigger refuses UPDATE, DELETE and TRUNCATE
-- for every role, the owner included. Never holds a secret.
CREATE TABLE audit_log (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL for platform-level events (a tenant created, a platform admin signed in). No foreign
    -- key: the trail outlives the tenant it describes.
    tenant_id    uuid,
    actor        text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    action       text        NOT NULL CHECK (action ~ '^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$'),
    target       text        NOT NULL CHECK (length(target) <= 500),
    outcome      text        NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    source_ip    inet,
    request_id   text        CHECK (length(request_id) <= 100),
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    occurred_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_time_idx ON audit_log (tenant_id, occurred_at DESC, id DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- A tenant sees and writes only its own rows; outside a tenant transaction only platform rows
-- (tenant_id NULL) may be written, and none are visible.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id IS NOT DISTINCT FROM NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT ON audit_log TO nimbus_app;
