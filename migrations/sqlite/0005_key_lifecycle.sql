-- Publication timing for rotated keys (hsm/keyring). A rotation of a
-- published role (oidc-signing) first records the new key as 'next':
-- published in JWKS, not yet signing, until activate_at; the key it replaces
-- stays published, as 'retiring', until retire_at, when every token it signed
-- has expired, and then becomes 'retired' (no longer published; the backend
-- key is kept). Both columns are Unix microseconds, UTC; NULL when no such
-- moment is scheduled.
--
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt
-- (https://www.sqlite.org/lang_altertable.html#otheralter), with the same
-- constraint and index names as on PostgreSQL. No other table refers to
-- hsm_keys, so dropping the old table is safe with foreign keys on.
CREATE TABLE hsm_keys_0005 (
    id           TEXT    NOT NULL PRIMARY KEY,
    role         TEXT    NOT NULL,
    algorithm    TEXT    NOT NULL,
    uri          TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER,
    activate_at  INTEGER,
    retire_at    INTEGER,
    CONSTRAINT hsm_keys_uri_key UNIQUE (uri),
    CONSTRAINT hsm_keys_state_check CHECK (state IN ('next', 'active', 'retiring', 'retired')),
    CONSTRAINT hsm_keys_next_activate_at_check CHECK (state <> 'next' OR activate_at IS NOT NULL)
) STRICT;

INSERT INTO hsm_keys_0005 (id, role, algorithm, uri, state, created_at, activated_at, retired_at)
    SELECT id, role, algorithm, uri, state, created_at, activated_at, retired_at FROM hsm_keys;

DROP TABLE hsm_keys;
ALTER TABLE hsm_keys_0005 RENAME TO hsm_keys;

-- At most one active key per role.
CREATE UNIQUE INDEX hsm_keys_one_active_per_role ON hsm_keys (role) WHERE state = 'active';
CREATE INDEX hsm_keys_role_state ON hsm_keys (role, state);
-- At most one key per role waiting to become active.
CREATE UNIQUE INDEX hsm_keys_one_next_per_role ON hsm_keys (role) WHERE state = 'next';
