-- Cost anomalies (issue 4, build item 7): a day whose usage spend of one series — (project,
-- provider, sub-account, service, currency) — stands far above its robust baseline. One row
-- per series and day: detection runs again after every import and hourly, updating the figures
-- of an anomaly it already found (a restated bill) without announcing it twice.

CREATE TABLE cost_anomalies (
    id              uuid        PRIMARY KEY,
    tenant_id       uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL: costs no allocation rule matched.
    project_id      uuid,
    provider        text        NOT NULL,
    sub_account_id  text,
    service_name    text        NOT NULL,
    currency        text        NOT NULL,
    day             date        NOT NULL,
    spend           numeric     NOT NULL,
    -- The median of the baseline days, and how far above it the day was in robust deviations.
    baseline        numeric     NOT NULL,
    score           numeric     NOT NULL,
    severity        text        NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    -- The line-item dimensions (resource, region, SKU) whose spend rose the most that day;
    -- NULL until worked out (a run bounds how many it works out).
    contributors    jsonb,
    status          text        NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'acknowledged', 'dismissed')),
    detected_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (tenant_id, project_id, provider, sub_account_id, service_name, currency, day),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX cost_anomalies_tenant_idx ON cost_anomalies (tenant_id, day DESC, id DESC);

ALTER TABLE cost_anomalies ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_anomalies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_anomalies
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON cost_anomalies TO nimbus_app;
