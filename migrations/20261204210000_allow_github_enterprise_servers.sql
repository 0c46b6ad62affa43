-- A GitHub provider may name a GitHub Enterprise Server by its URL (`issuer`); without one it
-- is github.com. OpenID providers still need their issuer. (The old check was unnamed: found
-- by what it says.)
DO $$
DECLARE
    old_check text;
BEGIN
    SELECT conname INTO STRICT old_check FROM pg_constraint
    WHERE conrelid = 'identity_providers'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%issuer IS NOT NULL%';
    EXECUTE format('ALTER TABLE identity_providers DROP CONSTRAINT %I', old_check);
END
$$;
ALTER TABLE identity_providers ADD CONSTRAINT identity_providers_issuer_check
    CHECK (kind = 'github' OR issuer IS NOT NULL);
