-- Rollups by the coarse dimensions only — provider, service, service category, charge category,
-- currency and project — per day and per month, for the explorer's views that group and filter
-- by nothing finer (spend per project per day, per service per month, the overview's spend by
-- provider). A tenant's `cost_daily` has a row per sub-account × service × region × … a day;
-- these tables have one per service × project, typically ten to a hundred times fewer.
--
-- Kept like `cost_monthly`: statement-level triggers on `cost_daily` recompute the days each
-- insert or delete touched, then those days' months from the recomputed days.

CREATE TABLE cost_daily_services (
    tenant_id         uuid    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day               date    NOT NULL,
    provider          text    NOT NULL,
    service_name      text    NOT NULL,
    service_category  text    NOT NULL,
    charge_category   text    NOT NULL,
    billing_currency  text    NOT NULL,
    project_id        uuid,
    billed_cost       numeric NOT NULL,
    effective_cost    numeric NOT NULL,
    list_cost         numeric,
    contracted_cost   numeric,
    line_items        bigint  NOT NULL
);
CREATE INDEX cost_daily_services_day_idx ON cost_daily_services (tenant_id, day);

CREATE TABLE cost_monthly_services (LIKE cost_daily_services);
ALTER TABLE cost_monthly_services RENAME COLUMN day TO month;
ALTER TABLE cost_monthly_services
    ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
CREATE INDEX cost_monthly_services_month_idx ON cost_monthly_services (tenant_id, month);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cost_daily_services', 'cost_monthly_services'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                           USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
        EXECUTE format('GRANT SELECT, INSERT, DELETE ON %I TO nimbus_app', t);
    END LOOP;
END
$$;

-- Recomputes the given days of one tenant from its daily rollups, then their months from the
-- days (as the caller, under row-level security).
CREATE FUNCTION cost_daily_services_recompute(tenant uuid, days date[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM cost_daily_services WHERE tenant_id = tenant AND day = ANY (days);
    INSERT INTO cost_daily_services (tenant_id, day, provider, service_name, service_category,
                                     charge_category, billing_currency, project_id, billed_cost,
                                     effective_cost, list_cost, contracted_cost, line_items)
    SELECT tenant_id, day, provider, service_name, service_category, charge_category, billing_currency,
           project_id, sum(billed_cost), sum(effective_cost), sum(list_cost), sum(contracted_cost),
           sum(line_items)
    FROM cost_daily
    WHERE tenant_id = tenant AND day = ANY (days)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

    DELETE FROM cost_monthly_services
    WHERE tenant_id = tenant
      AND month IN (SELECT DISTINCT date_trunc('month', d::timestamp)::date FROM unnest(days) AS d);
    INSERT INTO cost_monthly_services (tenant_id, month, provider, service_name, service_category,
                                       charge_category, billing_currency, project_id, billed_cost,
                                       effective_cost, list_cost, contracted_cost, line_items)
    SELECT tenant_id, date_trunc('month', day::timestamp)::date, provider, service_name, service_category,
           charge_category, billing_currency, project_id, sum(billed_cost), sum(effective_cost),
           sum(list_cost), sum(contracted_cost), sum(line_items)
    FROM cost_daily_services
    WHERE tenant_id = tenant
      AND date_trunc('month', day::timestamp)::date
          IN (SELECT DISTINCT date_trunc('month', d::timestamp)::date FROM unnest(days) AS d)
      AND day >= (SELECT date_trunc('month', min(d)::timestamp)::date FROM unnest(days) AS d)
      AND day < (SELECT date_trunc('month', max(d)::timestamp)::date + 31 FROM unnest(days) AS d)
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
$$;

CREATE FUNCTION cost_daily_changed_days() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR touched IN SELECT tenant_id, array_agg(DISTINCT day) AS days FROM new_rows GROUP BY tenant_id LOOP
            PERFORM cost_daily_services_recompute(touched.tenant_id, touched.days);
        END LOOP;
    ELSE
        FOR touched IN SELECT tenant_id, array_agg(DISTINCT day) AS days FROM old_rows GROUP BY tenant_id LOOP
            PERFORM cost_daily_services_recompute(touched.tenant_id, touched.days);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cost_daily_services_inserted AFTER INSERT ON cost_daily
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_changed_days();
CREATE TRIGGER cost_daily_services_deleted AFTER DELETE ON cost_daily
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cost_daily_changed_days();

-- Days rolled up before this migration (row-level security lifted for the copy only).
ALTER TABLE cost_daily NO FORCE ROW LEVEL SECURITY;
ALTER TABLE cost_daily_services NO FORCE ROW LEVEL SECURITY;
ALTER TABLE cost_monthly_services NO FORCE ROW LEVEL SECURITY;
SELECT cost_daily_services_recompute(tenant_id, array_agg(DISTINCT day)) FROM cost_daily GROUP BY tenant_id;
ALTER TABLE cost_daily FORCE ROW LEVEL SECURITY;
ALTER TABLE cost_daily_services FORCE ROW LEVEL SECURITY;
ALTER TABLE cost_monthly_services FORCE ROW LEVEL SECURITY;
