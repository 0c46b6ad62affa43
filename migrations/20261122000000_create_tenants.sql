-- Tenants own everything in Nimbus: every tenant-scoped table references this one.
-- (Memberships, roles and row-level security arrive with the identity module.)
CREATE TABLE tenants (
    id          uuid        PRIMARY KEY,
    slug        text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE tenants IS 'An organization served by this installation; owns all other data.';
