-- Publication timing for rotated keys (hsm/keyring). A rotation of a
-- published role (oidc-signing) first records the new key as 'next':
-- published in JWKS, not yet signing, until activate_at; the key it replaces
-- stays published, as 'retiring', until retire_at, when every token it signed
-- has expired, and then becomes 'retired' (no longer published; the backend
-- key is kept). Both columns are Unix microseconds, UTC; NULL when no such
-- moment is scheduled.
ALTER TABLE hsm_keys ADD COLUMN activate_at BIGINT;
ALTER TABLE hsm_keys ADD COLUMN retire_at BIGINT;

ALTER TABLE hsm_keys DROP CONSTRAINT hsm_keys_state_check;
ALTER TABLE hsm_keys ADD CONSTRAINT hsm_keys_state_check
    CHECK (state IN ('next', 'active', 'retiring', 'retired'));
-- A next key must know when it starts signing.
ALTER TABLE hsm_keys ADD CONSTRAINT hsm_keys_next_activate_at_check
    CHECK (state <> 'next' OR activate_at IS NOT NULL);

-- At most one key per role waiting to become active.
CREATE UNIQUE INDEX hsm_keys_one_next_per_role ON hsm_keys (role) WHERE state = 'next';
