-- Nodes, namespaces and workloads of Kubernetes clusters, reconciled per scope like clusters and
-- VMs (rows stamped `seen_by` the sync that listed them; the leftovers of a completed listing
-- are deleted, those of a failed one kept). Each row belongs to a cluster of the same account.

-- Free-text search over a million workloads needs trigram indexes (a trusted extension: the
-- database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The natural key of a cluster inside its account, for the rows below to refer to.
ALTER TABLE clusters ADD CONSTRAINT clusters_account_id_key UNIQUE (account_id, id);

CREATE TABLE nodes (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    cluster_id       uuid        NOT NULL,
    scope            text        NOT NULL,
    name             text        NOT NULL,
    status           text        NOT NULL,
    roles            text[]      NOT NULL DEFAULT '{}',
    kubelet_version  text,
    instance_type    text,
    zone             text,
    cpu              text,
    memory           text,
    labels           jsonb       NOT NULL DEFAULT '{}',
    seen_by          uuid        NOT NULL,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_contact_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, name),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, cluster_id) REFERENCES clusters (account_id, id) ON DELETE CASCADE
);
CREATE INDEX nodes_tenant_name_idx ON nodes (tenant_id, name, id);
CREATE INDEX nodes_scope_idx ON nodes (account_id, scope, seen_by);

CREATE TABLE namespaces (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    cluster_id       uuid        NOT NULL,
    scope            text        NOT NULL,
    name             text        NOT NULL,
    status           text,
    labels           jsonb       NOT NULL DEFAULT '{}',
    seen_by          uuid        NOT NULL,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_contact_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, name),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, cluster_id) REFERENCES clusters (account_id, id) ON DELETE CASCADE
);
CREATE INDEX namespaces_tenant_name_idx ON namespaces (tenant_id, name, id);
CREATE INDEX namespaces_scope_idx ON namespaces (account_id, scope, seen_by);

CREATE TABLE workloads (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    cluster_id       uuid        NOT NULL,
    scope            text        NOT NULL,
    kind             text        NOT NULL
        CHECK (kind IN ('Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob')),
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    replicas_desired integer,
    replicas_ready   integer,
    images           text[]      NOT NULL DEFAULT '{}',
    -- The application identity (app.kubernetes.io/part-of, …/name or app label).
    app              text,
    labels           jsonb       NOT NULL DEFAULT '{}',
    seen_by          uuid        NOT NULL,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_contact_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, kind, namespace, name),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, cluster_id) REFERENCES clusters (account_id, id) ON DELETE CASCADE
);
-- Paging in name order (the list's sort), per tenant and per cluster.
CREATE INDEX workloads_tenant_name_idx ON workloads (tenant_id, name, id);
CREATE INDEX workloads_cluster_name_idx ON workloads (cluster_id, name, id);
CREATE INDEX workloads_scope_idx ON workloads (account_id, scope, seen_by);
CREATE INDEX workloads_app_idx ON workloads (tenant_id, app) WHERE app IS NOT NULL;
CREATE INDEX workloads_search_idx ON workloads USING gin ((namespace || '/' || name) gin_trgm_ops);
CREATE INDEX workloads_labels_idx ON workloads USING gin (labels jsonb_path_ops);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['nodes', 'namespaces', 'workloads'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                           USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nimbus_app', t);
    END LOOP;
END
$$;
