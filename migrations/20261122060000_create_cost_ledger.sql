-- The cost ledger (issue 4): every cloud's bill as FOCUS line items, the imports that brought
-- them, and the daily rollups the explorer reads (docs/cost/LEDGER.md).

-- One row per import attempt, kept for the import history: what came in, how far it got
-- (`bytes_done` of `file_bytes` while reading), what it found. `status`: running → succeeded |
-- unchanged (identical to what is there) | failed.
CREATE TABLE cost_imports (
    id            uuid        PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source        text        NOT NULL,
    file_name     text        NOT NULL,
    file_sha256   bytea       NOT NULL,
    file_bytes    bigint      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('running', 'succeeded', 'unchanged', 'failed')),
    rows_total    bigint,
    rows_done     bigint      NOT NULL DEFAULT 0,
    bytes_done    bigint      NOT NULL DEFAULT 0,
    units         integer     NOT NULL DEFAULT 0,
    warnings      jsonb       NOT NULL DEFAULT '[]',
    errors        jsonb       NOT NULL DEFAULT '[]',
    created_by    text        NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX cost_imports_tenant_idx ON cost_imports (tenant_id, id DESC);

-- The version of each bill unit that is visible now. A unit is what one import replaces as a
-- whole: (tenant, source, billing account, billing period).
CREATE TABLE cost_units (
    tenant_id             uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source                text        NOT NULL,
    billing_account_id    text        NOT NULL,
    billing_period_start  timestamptz NOT NULL,
    import_id             uuid        NOT NULL REFERENCES cost_imports (id),
    file_sha256           bytea       NOT NULL,
    line_items            bigint      NOT NULL,
    replaced_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source, billing_account_id, billing_period_start)
);

-- FOCUS 1.2 columns, plus the 1.3 ones (nullable), plus every other column of the file in
-- `extensions`. Money is NUMERIC, never a float. ListCost and ContractedCost are mandatory in
-- FOCUS but missing from some real exports: kept null, and the import warns. Partitioned by billing month; partitions are
-- made by `cost_line_items_partition_for`. No foreign keys: they would be checked row by row
-- during COPY; `tenant_id` is guarded by row-level security and `import_id` by the import.
CREATE TABLE cost_line_items (
    tenant_id                               uuid        NOT NULL,
    import_id                               uuid        NOT NULL,
    source                                  text        NOT NULL,
    availability_zone                       text,
    billed_cost                             numeric     NOT NULL,
    billing_account_id                      text        NOT NULL,
    billing_account_name                    text,
    billing_account_type                    text,
    billing_currency                        text        NOT NULL,
    billing_period_end                      timestamptz NOT NULL,
    billing_period_start                    timestamptz NOT NULL,
    capacity_reservation_id                 text,
    capacity_reservation_status             text,
    charge_category                         text        NOT NULL,
    charge_class                            text,
    charge_description                      text,
    charge_frequency                        text,
    charge_period_end                       timestamptz NOT NULL,
    charge_period_start                     timestamptz NOT NULL,
    commitment_discount_category            text,
    commitment_discount_id                  text,
    commitment_discount_name                text,
    commitment_discount_quantity            numeric,
    commitment_discount_status              text,
    commitment_discount_type                text,
    commitment_discount_unit                text,
    consumed_quantity                       numeric,
    consumed_unit                           text,
    contracted_cost                         numeric,
    contracted_unit_price                   numeric,
    effective_cost                          numeric     NOT NULL,
    invoice_id                              text,
    invoice_issuer_name                     text,
    list_cost                               numeric,
    list_unit_price                         numeric,
    pricing_category                        text,
    pricing_currency                        text,
    pricing_currency_contracted_unit_price  numeric,
    pricing_currency_effective_cost         numeric,
    pricing_currency_list_unit_price        numeric,
    pricing_quantity                        numeric,
    pricing_unit                            text,
    provider_name                           text,
    publisher_name                          text,
    region_id                               text,
    region_name                             text,
    resource_id                             text,
    resource_name                           text,
    resource_type                           text,
    service_category                        text        NOT NULL,
    service_name                            text        NOT NULL,
    service_subcategory                     text,
    sku_id                                  text,
    sku_meter                               text,
    sku_price_details                       jsonb,
    sku_price_id                            text,
    sub_account_id                          text,
    sub_account_name                        text,
    sub_account_type                        text,
    tags                                    jsonb,
    allocated_method_id                     text,
    allocated_method_details                jsonb,
    allocated_resource_id                   text,
    allocated_resource_name                 text,
    allocated_tags                          jsonb,
    contract_applied                        jsonb,
    host_provider_name                      text,
    service_provider_name                   text,
    extensions                              jsonb
) PARTITION BY RANGE (billing_period_start);
CREATE INDEX cost_line_items_unit_idx
    ON cost_line_items (tenant_id, billing_account_id, billing_period_start, source);

ALTER TABLE cost_line_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_line_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_line_items
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON cost_line_items TO nimbus_app;

-- The partition of the billing month that holds `period_start` (UTC), made if missing. The
-- application role owns no table, so this runs as the owner; it takes only the names it builds
-- itself. Create-then-attach: ATTACH locks the parent in SHARE UPDATE EXCLUSIVE mode, so it
-- neither waits for nor blocks imports and queries in flight.
CREATE FUNCTION cost_line_items_partition_for(period_start timestamptz) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month_start timestamptz := date_trunc('month', period_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    month_end   timestamptz := month_start + interval '1 month';
    name        text := 'cost_line_items_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(name));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE cost_line_items INCLUDING DEFAULTS)', name);
    -- The constraint lets ATTACH skip scanning the (empty) table.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (billing_period_start >= %L AND billing_period_start < %L)',
                   name, name || '_month', month_start, month_end);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                       USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                       WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, name);
    EXECUTE format('ALTER TABLE cost_line_items ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, month_start, month_end);
END
$$;
REVOKE ALL ON FUNCTION cost_line_items_partition_for(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cost_line_items_partition_for(timestamptz) TO nimbus_app;

-- Daily totals per unit and dimension, rebuilt for a unit whenever it is replaced. The explorer's
-- common views read only this. `day` is cut in the tenant's time zone at import time.
CREATE TABLE cost_daily (
    tenant_id             uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source                text        NOT NULL,
    billing_account_id    text        NOT NULL,
    billing_period_start  timestamptz NOT NULL,
    day                   date        NOT NULL,
    provider              text        NOT NULL,
    sub_account_id        text,
    service_name          text        NOT NULL,
    service_category      text        NOT NULL,
    region_id             text,
    charge_category       text        NOT NULL,
    billing_currency      text        NOT NULL,
    project_id            uuid,
    billed_cost           numeric     NOT NULL,
    effective_cost        numeric     NOT NULL,
    -- Null when no line item of the group had the metric (real exports leave some out).
    list_cost             numeric,
    contracted_cost       numeric,
    line_items            bigint      NOT NULL
);
CREATE INDEX cost_daily_day_idx ON cost_daily (tenant_id, day);
CREATE INDEX cost_daily_unit_idx ON cost_daily (tenant_id, billing_account_id, billing_period_start, source);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cost_imports', 'cost_units', 'cost_daily'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                           USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON cost_imports TO nimbus_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON cost_units TO nimbus_app;
GRANT SELECT, INSERT, DELETE ON cost_daily TO nimbus_app;
