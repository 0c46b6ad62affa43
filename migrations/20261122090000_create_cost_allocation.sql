-- Allocation rules map line items to projects (issue 4, build item 4). The first rule that
-- matches a line item, by priority, allocates it: to one project, or shared between several
-- (evenly, or in proportion to what each of them was allocated directly that month). The
-- result lives in `cost_daily.project_id`; a line item no rule matches stays unallocated (NULL).

CREATE TABLE cost_allocation_rules (
    id           uuid        PRIMARY KEY,
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    priority     integer     NOT NULL,
    match_field  text        NOT NULL
                 CHECK (match_field IN ('sub_account', 'billing_account', 'tag', 'resource_id')),
    -- The tag's key, for `tag` rules only.
    tag_key      text        CHECK ((match_field = 'tag') = (tag_key IS NOT NULL)),
    -- The exact value; for `resource_id`, a pattern where `*` is any text and `?` one character.
    match_value  text        NOT NULL,
    -- One project, or a split between the projects of `cost_allocation_shares`.
    project_id   uuid,
    split        text        CHECK (split IN ('even', 'proportional')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((project_id IS NULL) <> (split IS NULL)),
    UNIQUE (tenant_id, priority),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
);

CREATE TABLE cost_allocation_shares (
    tenant_id   uuid    NOT NULL,
    rule_id     uuid    NOT NULL,
    project_id  uuid    NOT NULL,
    PRIMARY KEY (rule_id, project_id),
    FOREIGN KEY (tenant_id, rule_id) REFERENCES cost_allocation_rules (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
);
CREATE INDEX cost_allocation_shares_project_idx ON cost_allocation_shares (tenant_id, project_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cost_allocation_rules', 'cost_allocation_shares'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
                           USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                           WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON cost_allocation_rules, cost_allocation_shares TO nimbus_app;

CREATE INDEX cost_daily_project_idx ON cost_daily (tenant_id, project_id, day);
