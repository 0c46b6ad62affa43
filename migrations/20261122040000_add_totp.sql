-- Optional TOTP second factor for local accounts (SECURITY.md 13). `totp_secret` is set once the
-- user confirmed a code from its authenticator; `totp_last_counter` is the time step of the last
-- accepted code, so a code is never accepted twice.
ALTER TABLE users
    ADD COLUMN totp_secret bytea,
    ADD COLUMN totp_pending_secret bytea,
    ADD COLUMN totp_last_counter bigint;
