-- Budgets and their alerts (issue 4, build item 5), and in-app notifications. An alert is one
-- row per (budget, period, threshold, basis): the unique key is what makes it fire once.

CREATE TABLE budgets (
    id              uuid        PRIMARY KEY,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL: the whole tenant.
    project_id      uuid,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    period          text        NOT NULL CHECK (period IN ('month', 'quarter', 'year')),
    amount          numeric     NOT NULL CHECK (amount > 0),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Percentages of the amount, ascending.
    thresholds      numeric[]   NOT NULL,
    notify_emails   text[]      NOT NULL DEFAULT '{}',
    webhook_url     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE budget_alerts (
    id                 uuid        PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    budget_id          uuid        NOT NULL,
    period_start       date        NOT NULL,
    threshold          numeric     NOT NULL,
    basis              text        NOT NULL CHECK (basis IN ('actual', 'forecast')),
    spend              numeric     NOT NULL,
    budget_amount      numeric     NOT NULL,
    currency           text        NOT NULL,
    fired_at           timestamptz NOT NULL DEFAULT now(),
    -- Delivery to the budget's webhook and e-mail addresses (the outbox).
    delivered_at       timestamptz,
    delivery_attempts  integer     NOT NULL DEFAULT 0,
    delivery_error     text,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (budget_id, period_start, threshold, basis),
    FOREIGN KEY (tenant_id, budget_id) REFERENCES budgets (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX budget_alerts_pending_idx ON budget_alerts (next_attempt_at) WHERE delivered_at IS NULL;

CREATE TABLE notifications (
    id          uuid        PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id  uuid,
    kind        text        NOT NULL,
    title       text        NOT NULL,
    body        text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz
);
CREATE INDEX notifications_tenant_idx ON notifications (tenant_id, id DESC);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['budgets', 'budget_alerts', 'notifications'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                           USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON budgets TO nimbus_app;
GRANT SELECT, INSERT, UPDATE ON budget_alerts, notifications TO nimbus_app;
