-- App rules: a tenant names the app of the workloads a rule matches (a cluster, a namespace glob,
-- a name glob, a label key = value; every condition given must hold), tried in priority order
-- before the labels. A workload's `app` is the first matching rule's, else `label_app` (the
-- `app.kubernetes.io/part-of`, `…/name` or `app` label, as read at sync). The sync's upsert and
-- every rule change compute it with `app_of_workload`, so the apps list groups by one indexed
-- column.

CREATE TABLE app_rules (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    app          text        NOT NULL,
    priority     integer     NOT NULL,
    -- No foreign key: a rule for a cluster that is gone matches nothing, and must not widen.
    cluster_id   uuid,
    namespace    text,
    name         text,
    label_key    text,
    label_value  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, priority),
    CHECK (num_nonnulls(cluster_id, namespace, name, label_key) > 0),
    CHECK ((label_key IS NULL) = (label_value IS NULL))
);

ALTER TABLE app_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE app_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON app_rules
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON app_rules TO nimbus_app;

ALTER TABLE workloads ADD COLUMN label_app text;
UPDATE workloads SET label_app = app;

-- `*` any run of characters, `?` one; `%`, `_` and `\` are taken literally.
CREATE FUNCTION glob_to_like(glob text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN replace(replace(replace(replace(replace(glob, '\', '\\'), '%', '\%'), '_', '\_'), '*', '%'), '?', '_');

-- Runs as the caller: row-level security keeps it to the caller's tenant's rules.
CREATE FUNCTION app_of_workload(tenant uuid, cluster uuid, workload_namespace text,
                                workload_name text, labels jsonb, label_app text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN coalesce((SELECT r.app
                 FROM app_rules r
                 WHERE r.tenant_id = tenant
                   AND (r.cluster_id IS NULL OR r.cluster_id = cluster)
                   AND (r.namespace IS NULL OR workload_namespace LIKE glob_to_like(r.namespace))
                   AND (r.name IS NULL OR workload_name LIKE glob_to_like(r.name))
                   AND (r.label_key IS NULL OR labels ->> r.label_key = r.label_value)
                 ORDER BY r.priority
                 LIMIT 1),
                label_app);
