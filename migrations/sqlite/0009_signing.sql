-- Remote signing (signing/): the requests a service makes to have a
-- resident sign, their approval (signature activation) and the record of
-- every signature made. Timestamps: Unix microseconds, UTC.

-- A signing request: which service asks which resident to sign which
-- documents (labels and digests) with which credential (a resident
-- certificate, signing/ca). The resident approves it with a passkey
-- assertion whose challenge commits to the credential, the hash algorithm,
-- every digest and nonce; evidence keeps that assertion (JSON: client data,
-- authenticator data, signature, credential public key) for later proof.
-- Approval yields the signature activation data: on the explicit route
-- (CSC credentials/authorize) an opaque SAD stored only as its SHA-256
-- (sad_hash); on the OAuth route (scope=credential) the access token of
-- grant_id. Either is good for signatures_left signatures over exactly
-- these digests until sad_expires_at, and used once.
CREATE TABLE signing_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    route           TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    client_name     TEXT    NOT NULL,
    client_name_zh  TEXT    NOT NULL,
    resident_id     TEXT    NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    credential_id   TEXT    NOT NULL,
    hash_alg        TEXT    NOT NULL,
    documents       TEXT    NOT NULL,
    num_signatures  INTEGER NOT NULL,
    description     TEXT    NOT NULL,
    code            TEXT    NOT NULL,
    nonce           BLOB   NOT NULL,
    state           TEXT    NOT NULL,
    evidence        TEXT,
    sad_hash        TEXT,
    grant_id        TEXT,
    signatures_left INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    answered_at     INTEGER,
    sad_expires_at  INTEGER,
    CONSTRAINT signing_requests_route_check CHECK (route IN ('explicit', 'oauth')),
    CONSTRAINT signing_requests_state_check CHECK (state IN ('pending', 'approved', 'denied', 'used'))
) STRICT;
CREATE UNIQUE INDEX signing_requests_sad ON signing_requests (sad_hash);
CREATE UNIQUE INDEX signing_requests_grant ON signing_requests (grant_id);
CREATE INDEX signing_requests_resident ON signing_requests (resident_id, state);

-- Every signature made: what the resident's history shows and the service
-- can be held to. No foreign keys: the record outlives the request, the
-- client and the account (it is evidence), and holds no document content,
-- only its label and digest.
CREATE TABLE signing_records (
    id             TEXT    NOT NULL PRIMARY KEY,
    request_id     TEXT    NOT NULL,
    resident_id    TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    client_name    TEXT    NOT NULL,
    client_name_zh TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL,
    cert_serial    TEXT    NOT NULL,
    hash_alg       TEXT    NOT NULL,
    digest         TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    format         TEXT    NOT NULL,
    evidence       TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX signing_records_resident ON signing_records (resident_id, created_at);
