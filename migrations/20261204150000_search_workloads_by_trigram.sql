-- Free-text workload search through the trigram index.
--
-- Under the tenant's row-level-security policy PostgreSQL may not evaluate `ILIKE` (not
-- leakproof) before the policy, so it cannot use `workloads_search_idx` and scans every
-- workload of the tenant: a rare term took 290 ms at a million workloads. This function runs
-- the match outside the policy, as `nimbus_search` (cannot log in, may only read workloads),
-- restricted to the caller's tenant by the same setting the policy reads, and returns ids
-- only; the list query then reads those rows under the policy as before.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nimbus_search') THEN
        CREATE ROLE nimbus_search NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;
GRANT nimbus_search TO CURRENT_USER;
GRANT USAGE, CREATE ON SCHEMA public TO nimbus_search;
GRANT SELECT ON workloads TO nimbus_search;
CREATE POLICY search ON workloads FOR SELECT TO nimbus_search USING (true);

-- The ids of the current tenant's workloads whose `namespace/name` matches the ILIKE `pattern`
-- (at most `max_ids`), or NULL when the term is common: when a short walk in name order (the
-- list's order) already meets matches, the caller's own name-ordered scan fills a page sooner
-- than any id list would, and a trigram lookup would fetch most of the index.
CREATE FUNCTION search_workload_ids(pattern text, max_ids integer) RETURNS uuid[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tenant uuid := NULLIF(current_setting('app.tenant_id', true), '')::uuid;
    ids uuid[];
BEGIN
    IF (SELECT count(*) FROM (SELECT namespace, name FROM workloads
                              WHERE tenant_id = tenant ORDER BY name, id LIMIT 2000) AS first
        WHERE (namespace || '/' || name) ILIKE pattern) >= 20 THEN
        RETURN NULL;
    END IF;
    ids := ARRAY(SELECT id FROM workloads
                 WHERE tenant_id = tenant AND (namespace || '/' || name) ILIKE pattern
                 LIMIT max_ids + 1);
    -- More than the caller can take: common after all (the first names did not show it).
    IF cardinality(ids) > max_ids THEN
        RETURN NULL;
    END IF;
    RETURN ids;
END
$$;

ALTER FUNCTION search_workload_ids(text, integer) OWNER TO nimbus_search;
REVOKE ALL ON FUNCTION search_workload_ids(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION search_workload_ids(text, integer) TO nimbus_app;
