-- The personal-data vault (vault/). Timestamps: Unix microseconds, UTC (see
-- migrations/doc.go). No personal value is stored in the clear: attribute
-- values are AES-256-GCM ciphertexts under the resident's data key, and the
-- data key is stored only wrapped by a vault-kek key held in the HSM.

-- One data key per resident. wrapped_key is the data key sealed by the
-- vault-kek key kek_id (hsm_keys.id) with the resident ID and key_version
-- as associated data. key_version grows with each data-key rotation.
-- Deleting the row is crypto-shredding: ciphertexts left in this database
-- can no longer be decrypted. A backup holds its own copy of the wrapped
-- key; it becomes undecryptable once the vault-kek key that wrapped it is
-- destroyed after a rotation (see vault/doc.go).
CREATE TABLE vault_data_keys (
    resident_id  TEXT   NOT NULL PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    key_version  INTEGER NOT NULL,
    kek_id       TEXT   NOT NULL,
    wrapped_key  BLOB  NOT NULL,
    created_at   INTEGER NOT NULL,
    rewrapped_at INTEGER NOT NULL
) STRICT;
CREATE INDEX vault_data_keys_kek ON vault_data_keys (kek_id);

-- Attribute values. ciphertext = nonce || AES-256-GCM(value) under the data
-- key of key_version, with associated data binding resident_id, name,
-- schema_version and key_version. version counts writes (optimistic
-- concurrency: a write names the version it read). Provenance: source
-- ('register', 'resident', 'department:<id>'), verified, updated_at.
CREATE TABLE vault_attributes (
    resident_id    TEXT    NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    schema_version INTEGER  NOT NULL,
    key_version    INTEGER  NOT NULL,
    ciphertext     BLOB   NOT NULL,
    source         TEXT    NOT NULL,
    verified       INTEGER NOT NULL CHECK (verified IN (0, 1)),
    version        INTEGER  NOT NULL,
    updated_at     INTEGER  NOT NULL,
    PRIMARY KEY (resident_id, name)
) STRICT;

-- Residents whose vault was erased (and not written to since), so that a
-- read says "erased" rather than "empty". No foreign key: it outlives the
-- account, and holds nothing personal.
CREATE TABLE vault_erasures (
    resident_id TEXT   NOT NULL PRIMARY KEY,
    erased_at   INTEGER NOT NULL
) STRICT;

-- The access log: every release of vault data to a relying party, chained
-- by hash per resident (hash = SHA-256 over the entry and prev_hash; the
-- first entry's prev_hash is empty). attributes is a JSON array of names —
-- never values. consent names the consent record the release was made
-- under. No foreign keys: the log outlives clients and accounts, and holds
-- no personal values.
CREATE TABLE vault_access_log (
    resident_id TEXT   NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    client_id   TEXT   NOT NULL,
    client_name TEXT   NOT NULL,
    attributes  TEXT   NOT NULL,
    consent     TEXT   NOT NULL,
    request_id  TEXT   NOT NULL,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL,
    PRIMARY KEY (resident_id, seq)
) STRICT;

-- The head of each resident's chain (last seq and hash), updated with each
-- append, so that removing the newest entries is detected too.
CREATE TABLE vault_access_heads (
    resident_id TEXT   NOT NULL PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        TEXT   NOT NULL
) STRICT;
