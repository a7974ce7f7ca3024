-- Residents (idp/account), their passkeys (idp/passkey), sessions
-- (idp/session), recovery codes and activity log (idp/account), ceremony
-- challenges (idp/passkey) and failed-proofing counters (idp/proofing).
-- Timestamps: Unix microseconds, UTC (see migrations/doc.go).

-- One row per resident. id is random and internal: never shown to relying
-- parties (they get pairwise subjects). The profile columns are a copy of
-- the civil-register record, read-only here. id_number is unique: one
-- account per identity.
CREATE TABLE residents (
    id              TEXT   NOT NULL PRIMARY KEY,
    id_number       TEXT   NOT NULL,
    surname         TEXT   NOT NULL,
    given_names     TEXT   NOT NULL,
    name_zh         TEXT   NOT NULL DEFAULT '',
    birth_date      TEXT   NOT NULL,           -- YYYY-MM-DD
    gender          TEXT   NOT NULL,           -- M, F or X as the register says
    assurance_level TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CONSTRAINT residents_id_number_key UNIQUE (id_number),
    CONSTRAINT residents_status_check CHECK (status IN ('active', 'suspended', 'deleted')),
    CONSTRAINT residents_assurance_level_check CHECK (assurance_level IN ('substantial', 'high'))
);

CREATE TABLE passkey_credentials (
    id                 TEXT    NOT NULL PRIMARY KEY,  -- credential ID, base64url without padding
    resident_id        TEXT    NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    public_key         BYTEA   NOT NULL,              -- COSE key
    aaguid             TEXT    NOT NULL,              -- UUID text form
    attestation_format TEXT    NOT NULL,
    sign_count         BIGINT  NOT NULL,
    backup_eligible    BOOLEAN NOT NULL,
    backup_state       BOOLEAN NOT NULL,
    transports         TEXT    NOT NULL DEFAULT '',   -- comma-separated
    nickname           TEXT    NOT NULL DEFAULT '',
    created_at         BIGINT  NOT NULL,
    last_used_at       BIGINT,
    blocked_at         BIGINT,
    blocked_reason     TEXT    NOT NULL DEFAULT '',
    sign_count_regressed_at BIGINT                  -- last time the signature counter went backwards (possible clone)
);
CREATE INDEX passkey_credentials_resident ON passkey_credentials (resident_id);

-- Ceremony state: single use (deleted when consumed), short-lived, bound to
-- the browser flow (a cookie) that began it.
CREATE TABLE webauthn_challenges (
    id          TEXT   NOT NULL PRIMARY KEY,   -- random handle
    flow_id     TEXT   NOT NULL,               -- hash of the flow cookie
    purpose     TEXT   NOT NULL,
    resident_id TEXT,
    data        TEXT   NOT NULL,               -- go-webauthn SessionData as JSON
    expires_at  BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_flow ON webauthn_challenges (flow_id, purpose);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);

-- Server-side sessions. token_hash is SHA-256 of the cookie value (the
-- cookie is the bearer secret; the database never holds it); id is a public
-- handle for the account page's session list.
CREATE TABLE sessions (
    id           TEXT   NOT NULL PRIMARY KEY,
    token_hash   TEXT   NOT NULL,
    resident_id  TEXT   NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,               -- absolute timeout
    auth_time    BIGINT NOT NULL,
    acr          TEXT   NOT NULL,
    amr          TEXT   NOT NULL,               -- space-separated RFC 8176 values
    user_agent   TEXT   NOT NULL DEFAULT '',
    revoked_at   BIGINT,
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX sessions_resident ON sessions (resident_id);

-- Recovery codes, stored as SHA-256 hashes (high-entropy codes).
CREATE TABLE recovery_codes (
    resident_id TEXT   NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    code_hash   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (resident_id, code_hash)
);

-- What happened to an account: logins, passkeys added or removed,
-- recoveries, sessions revoked. detail is JSON without personal data.
CREATE TABLE account_activity (
    id          TEXT   NOT NULL PRIMARY KEY,
    resident_id TEXT   NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    detail      TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX account_activity_resident_at ON account_activity (resident_id, at);

-- Failed identity-proofing attempts per subject (an ID-number hash or a
-- client address), for rate limits and lockout.
CREATE TABLE proofing_failures (
    subject      TEXT   NOT NULL PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);
