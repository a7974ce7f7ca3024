-- Registry of the keys eidp keeps in the HSM (hsm/keyring): which key plays
-- which role, under which JOSE kid, and where it is in its life cycle. The
-- key material itself stays in the HSM; uri is its RFC 7512 PKCS#11 URI (or
-- the soft backend's equivalent). Timestamps: Unix microseconds, UTC.
CREATE TABLE hsm_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    role         TEXT    NOT NULL,
    algorithm    TEXT    NOT NULL,
    uri          TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    retired_at   INTEGER,
    CONSTRAINT hsm_keys_uri_key UNIQUE (uri),
    CONSTRAINT hsm_keys_state_check CHECK (state IN ('active', 'retiring', 'retired'))
) STRICT;

-- At most one active key per role.
CREATE UNIQUE INDEX hsm_keys_one_active_per_role ON hsm_keys (role) WHERE state = 'active';

CREATE INDEX hsm_keys_role_state ON hsm_keys (role, state);
