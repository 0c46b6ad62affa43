-- Workload lists narrowed by namespace and/or kind come back in name order (the keyset paging
-- order); without these the only ordered path walks every workload of the tenant, which at a
-- million workloads and a filter matching few rows takes seconds.
CREATE INDEX workloads_namespace_kind_name_idx ON workloads (tenant_id, namespace, kind, name, id);
CREATE INDEX workloads_kind_name_idx ON workloads (tenant_id, kind, name, id);

