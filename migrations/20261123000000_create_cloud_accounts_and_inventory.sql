-- Cloud accounts, the sync job queue and the inventory they fill (issue 5).

-- The `sts:ExternalId` every AWS role of the tenant must require (SECURITY.md 20): generated,
-- never chosen by the tenant, so one tenant cannot make Nimbus assume another's role.
ALTER TABLE tenants
    ADD COLUMN aws_external_id text NOT NULL
        DEFAULT 'nimbus-' || replace(gen_random_uuid()::text, '-', '');

CREATE TABLE cloud_accounts (
    id                      uuid        PRIMARY KEY,
    tenant_id               uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id              uuid,
    name                    text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    provider                text        NOT NULL CHECK (provider IN ('aws', 'azure', 'gcp', 'alibaba', 'kubernetes')),
    -- The connection settings (api-types `CloudSettings`): nothing secret.
    settings                jsonb       NOT NULL,
    -- The credential, envelope-encrypted (backend/src/secrets.rs): master key version, data
    -- key wrapped by it, ciphertext. Bound to (tenant, id): copied elsewhere it opens nowhere.
    credential_key_version  integer,
    credential_wrapped_key  bytea,
    credential              bytea,
    credential_updated_at   timestamptz,
    status                  text        NOT NULL DEFAULT 'pending'
                                        CHECK (status IN ('pending', 'connected', 'degraded', 'paused', 'lost')),
    status_reason           text,
    sync_interval_seconds   integer     NOT NULL DEFAULT 900 CHECK (sync_interval_seconds BETWEEN 300 AND 86400),
    next_sync_at            timestamptz NOT NULL DEFAULT now(),
    last_contact_at         timestamptz,
    last_success_at         timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id),
    CHECK ((credential IS NULL) = (credential_wrapped_key IS NULL)
           AND (credential IS NULL) = (credential_key_version IS NULL)),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE SET NULL (project_id)
);
CREATE INDEX cloud_accounts_due_idx ON cloud_accounts (next_sync_at) WHERE status <> 'paused';

-- The sync queue. Workers of every replica claim jobs with FOR UPDATE SKIP LOCKED and hold them
-- by a lease they renew; a job whose lease ran out (its worker died) is claimed again.
CREATE TABLE sync_jobs (
    id                uuid        PRIMARY KEY,
    tenant_id         uuid        NOT NULL,
    account_id        uuid        NOT NULL,
    trigger           text        NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    state             text        NOT NULL DEFAULT 'queued'
                                  CHECK (state IN ('queued', 'running', 'succeeded', 'partial', 'failed')),
    requested_by      uuid,
    attempts          integer     NOT NULL DEFAULT 0,
    lease_owner       uuid,
    lease_expires_at  timestamptz,
    scopes_done       integer     NOT NULL DEFAULT 0,
    scopes_total      integer,
    resources         bigint      NOT NULL DEFAULT 0,
    error             text,
    queued_at         timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE
);
-- At most one unfinished job per account: a sync asked for twice is the same sync.
CREATE UNIQUE INDEX sync_jobs_one_open_per_account ON sync_jobs (account_id)
    WHERE state IN ('queued', 'running');
CREATE INDEX sync_jobs_open_idx ON sync_jobs (queued_at) WHERE state IN ('queued', 'running');
CREATE INDEX sync_jobs_account_idx ON sync_jobs (tenant_id, account_id, queued_at DESC);

-- One listing (resource type × region) of an account, as of its last attempt. A listing that
-- failed keeps its rows and is stale until one succeeds.
CREATE TABLE sync_scopes (
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    scope            text        NOT NULL,
    stale            boolean     NOT NULL DEFAULT false,
    error            text,
    resources        integer     NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_success_at  timestamptz,
    PRIMARY KEY (account_id, scope),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE
);

-- Inventory rows are upserted by (account, provider id) as pages arrive, stamped with the sync
-- that saw them; a scope's unstamped rows are deleted only after its listing completed.
CREATE TABLE clusters (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    scope            text        NOT NULL,
    external_id      text        NOT NULL,
    name             text        NOT NULL,
    distribution     text        NOT NULL,
    region           text,
    version          text,
    status           text,
    node_count       integer,
    node_pools       jsonb       NOT NULL DEFAULT '[]',
    labels           jsonb       NOT NULL DEFAULT '{}',
    seen_by          uuid        NOT NULL,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_contact_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX clusters_tenant_name_idx ON clusters (tenant_id, name, id);
CREATE INDEX clusters_scope_idx ON clusters (account_id, scope, seen_by);

CREATE TABLE vms (
    id               uuid        PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    scope            text        NOT NULL,
    external_id      text        NOT NULL,
    name             text,
    region           text,
    zone             text,
    instance_type    text,
    state            text,
    private_ip       text,
    labels           jsonb       NOT NULL DEFAULT '{}',
    seen_by          uuid        NOT NULL,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_contact_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX vms_tenant_name_idx ON vms (tenant_id, name, id);
CREATE INDEX vms_scope_idx ON vms (account_id, scope, seen_by);

-- Bill export objects already imported, by their ETag: a changed object is imported again (the
-- import itself decides whether anything changed).
CREATE TABLE bill_export_objects (
    tenant_id    uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    object_key   text        NOT NULL,
    etag         text        NOT NULL,
    import_id    uuid,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, object_key),
    FOREIGN KEY (tenant_id, account_id) REFERENCES cloud_accounts (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cloud_accounts', 'sync_jobs', 'sync_scopes', 'clusters', 'vms',
                             'bill_export_objects'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                           USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nimbus_app', t);
    END LOOP;
END
$$;

-- The scheduler sees across tenants, but only through the two functions below, which return
-- ids and nothing else; everything after runs in the tenant's own transaction. They run as
-- `nimbus_scheduler`, a role that cannot log in and holds no other right.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nimbus_scheduler') THEN
        CREATE ROLE nimbus_scheduler NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT nimbus_scheduler TO CURRENT_USER;
GRANT USAGE, CREATE ON SCHEMA public TO nimbus_scheduler;
GRANT SELECT, UPDATE ON cloud_accounts TO nimbus_scheduler;
GRANT SELECT, INSERT, UPDATE ON sync_jobs TO nimbus_scheduler;
CREATE POLICY scheduler ON cloud_accounts TO nimbus_scheduler USING (true) WITH CHECK (true);
CREATE POLICY scheduler ON sync_jobs TO nimbus_scheduler USING (true) WITH CHECK (true);

-- Queues a scheduled sync for every account that is due (not paused), and moves its next sync
-- one jittered interval (±10 %) ahead so replicas and accounts spread out. Returns how many.
CREATE FUNCTION enqueue_due_syncs(max_accounts integer) RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH due AS (
        SELECT id FROM cloud_accounts
        WHERE next_sync_at <= now() AND status <> 'paused'
        ORDER BY next_sync_at
        LIMIT max_accounts
        FOR UPDATE SKIP LOCKED
    ), moved AS (
        UPDATE cloud_accounts a
        SET next_sync_at = now() + make_interval(secs => a.sync_interval_seconds * (0.9 + random() * 0.2))
        FROM due WHERE a.id = due.id
        RETURNING a.id, a.tenant_id
    ), queued AS (
        INSERT INTO sync_jobs (id, tenant_id, account_id, trigger)
        SELECT gen_random_uuid(), tenant_id, id, 'schedule' FROM moved
        ON CONFLICT (account_id) WHERE state IN ('queued', 'running') DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::integer FROM queued
$$;

-- Claims the oldest queued job (or exactly `only_job`), or a running one whose lease ran out,
-- unless `max_running` jobs already hold live leases across all replicas (the global cap;
-- claims are serialized by an advisory lock so two replicas cannot both take the last slot).
CREATE FUNCTION claim_sync_job(worker uuid, lease interval, max_running integer, only_job uuid)
RETURNS TABLE (job_id uuid, tenant_id uuid, account_id uuid, attempts integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('nimbus.claim_sync_job'));
    IF (SELECT count(*) FROM sync_jobs j
        WHERE j.state = 'running' AND j.lease_expires_at >= now()) >= max_running THEN
        RETURN;
    END IF;
    RETURN QUERY
    UPDATE sync_jobs j
    SET state = 'running', lease_owner = worker, lease_expires_at = now() + lease,
        attempts = j.attempts + 1, started_at = coalesce(j.started_at, now())
    WHERE j.id = (SELECT o.id FROM sync_jobs o
                  WHERE (o.state = 'queued' OR (o.state = 'running' AND o.lease_expires_at < now()))
                    AND (only_job IS NULL OR o.id = only_job)
                  ORDER BY o.queued_at
                  LIMIT 1
                  FOR UPDATE SKIP LOCKED)
    RETURNING j.id, j.tenant_id, j.account_id, j.attempts;
END
$$;

ALTER FUNCTION enqueue_due_syncs(integer) OWNER TO nimbus_scheduler;
ALTER FUNCTION claim_sync_job(uuid, interval, integer, uuid) OWNER TO nimbus_scheduler;
REVOKE ALL ON FUNCTION enqueue_due_syncs(integer), claim_sync_job(uuid, interval, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enqueue_due_syncs(integer), claim_sync_job(uuid, interval, integer, uuid) TO nimbus_app;
