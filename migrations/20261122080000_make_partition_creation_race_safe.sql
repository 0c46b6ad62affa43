-- Two imports can ask for the same month's partition at once. The second waits on the advisory
-- lock, but its catalog lookup may still miss the table the first just committed; creating it
-- then fails with duplicate_table, which means exactly that the partition now exists (creation
-- and ATTACH commit together), so it is not an error.
CREATE OR REPLACE FUNCTION cost_line_items_partition_for(period_start timestamptz) RETURNS void
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
    BEGIN
        EXECUTE format('CREATE TABLE %I (LIKE cost_line_items INCLUDING DEFAULTS)', name);
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN;
    END;
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
