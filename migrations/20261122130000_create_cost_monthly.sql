-- Monthly rollups (issue 4, build item 1 and the explorer's latency goal): `cost_daily` summed
-- by calendar month of its (tenant time zone) days, with the same dimensions. The explorer
-- reads this table for whole-month views, which then scan about thirty times fewer rows.
--
-- Kept by statement-level triggers on `cost_daily`, so every writer of the daily rollups
-- (imports, allocation runs, settings changes) keeps the months they touched exact without
-- knowing about this table: each statement recomputes its months from `cost_daily`.

CREATE TABLE cost_monthly (
    tenant_id             uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source                text        NOT NULL,
    billing_account_id    text        NOT NULL,
    billing_period_start  timestamptz NOT NULL,
    month                 date        NOT NULL,
    provider              text        NOT NULL,
    sub_account_id        text,
    service_name          text        NOT NULL,
    service_category      text        NOT NULL,
    region_id             text,
    charge_category       text        NOT NULL,
    billing_currency      text        NOT NULL,
    project_id            uuid,
    cluster               text,
    tags                  jsonb,
    billed_cost           numeric     NOT NULL,
    effective_cost        numeric     NOT NULL,
    list_cost             numeric,
    contracted_cost       numeric,
    line_items            bigint      NOT NULL
);
CREATE INDEX cost_monthly_month_idx ON cost_monthly (tenant_id, month);

ALTER TABLE cost_monthly ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_monthly FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_monthly
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON cost_monthly TO nimbus_app;

-- Recomputes the given months of one tenant from its daily rollups. Runs as the caller, under
-- row-level security like any other statement of the transaction.
CREATE FUNCTION cost_monthly_recompute(tenant uuid, months date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM cost_monthly WHERE tenant_id = tenant AND month = ANY (months);
    INSERT INTO cost_monthly (tenant_id, source, billing_account_id, billing_period_start, month, provider,
                              sub_account_id, service_name, service_category, region_id, charge_category,
                              billing_currency, project_id, cluster, tags, billed_cost, effective_cost,
                              list_cost, contracted_cost, line_items)
    SELECT tenant_id, source, billing_account_id, billing_period_start,
           date_trunc('month', day::timestamp)::date, provider, sub_account_id, service_name,
           service_category, region_id, charge_category, billing_currency, project_id, cluster, tags,
           sum(billed_cost), sum(effective_cost), sum(list_cost), sum(contracted_cost), sum(line_items)
    FROM cost_daily
    WHERE tenant_id = tenant
      AND date_trunc('month', day::timestamp)::date = ANY (months)
      AND day >= (SELECT min(m) FROM unnest(months) AS m)
      AND day < (SELECT max(m) FROM unnest(months) AS m) + interval '1 month'
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15;
$$;

CREATE FUNCTION cost_daily_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR touched IN
            SELECT tenant_id, array_agg(DISTINCT date_trunc('month', day::timestamp)::date) AS months
            FROM new_rows GROUP BY tenant_id
        LOOP
            PERFORM cost_monthly_recompute(touched.tenant_id, touched.months);
        END LOOP;
    ELSE
        FOR touched IN
            SELECT tenant_id, array_agg(DISTINCT date_trunc('month', day::timestamp)::date) AS months
            FROM old_rows GROUP BY tenant_id
        LOOP
            PERFORM cost_monthly_recompute(touched.tenant_id, touched.months);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cost_daily_inserted AFTER INSERT ON cost_daily
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_changed();
CREATE TRIGGER cost_daily_deleted AFTER DELETE ON cost_daily
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_changed();

-- Months rolled up before this migration. Row-level security is lifted for the copy only (the
-- migration runs as the tables' owner, which FORCE subjects to the policies).
ALTER TABLE cost_daily NO FORCE ROW LEVEL SECURITY;
ALTER TABLE cost_monthly NO FORCE ROW LEVEL SECURITY;
SELECT cost_monthly_recompute(tenant_id, array_agg(DISTINCT date_trunc('month', day::timestamp)::date))
FROM cost_daily GROUP BY tenant_id;
ALTER TABLE cost_daily FORCE ROW LEVEL SECURITY;
ALTER TABLE cost_monthly FORCE ROW LEVEL SECURITY;
