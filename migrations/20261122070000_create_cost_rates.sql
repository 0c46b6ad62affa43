-- Exchange rates a tenant imports to see costs in its reporting currency: one rate per month
-- and currency pair (`amount in from_currency × rate = amount in to_currency`).
CREATE TABLE cost_rates (
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    from_currency  text        NOT NULL CHECK (from_currency ~ '^[A-Z]{3}$'),
    to_currency    text        NOT NULL CHECK (to_currency ~ '^[A-Z]{3}$' AND to_currency <> from_currency),
    month          date        NOT NULL CHECK (extract(day FROM month) = 1),
    rate           numeric     NOT NULL CHECK (rate > 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, from_currency, to_currency, month)
);
ALTER TABLE cost_rates ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_rates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_rates
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON cost_rates TO nimbus_app;
