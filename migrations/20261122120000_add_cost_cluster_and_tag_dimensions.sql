-- Cluster and tag dimensions of the cost explorer (issue 4, build item 3).
--
-- A line item's cluster is worked out once, at import, from the tags and resource ids the
-- managed Kubernetes services write (docs/cost/LEDGER.md, "Dimensions"). Tags become rollup
-- dimensions only for the keys a tenant names (as AWS's cost allocation tags): `cost_daily.tags`
-- holds those keys' values, so grouping by a tag reads the rollups, and a tenant that names no
-- key keeps rollups as small as before.

ALTER TABLE cost_line_items ADD COLUMN cluster text;

ALTER TABLE cost_daily ADD COLUMN cluster text;
ALTER TABLE cost_daily ADD COLUMN tags jsonb;

CREATE TABLE cost_settings (
    tenant_id   uuid        PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    tag_keys    text[]      NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE cost_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE cost_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON cost_settings
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON cost_settings TO nimbus_app;

-- The values of `keys` in `tags`, as `cost_daily.tags` holds them (NULL when there is none).
-- The import's streaming rollup projects the same way in Rust (backend/src/cost/dimensions.rs).
CREATE FUNCTION cost_tag_dimensions(tags jsonb, keys text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object_agg(k, tags -> k) FROM unnest(keys) AS k WHERE tags ? k
$$;
