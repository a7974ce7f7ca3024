-- The certification authority of remote signing (signing/ca). Timestamps:
-- Unix microseconds, UTC (see migrations/doc.go). Serial numbers are stored
-- as lowercase hexadecimal without leading zeros (math/big Text(16)). Private
-- keys are never stored here: CA, TSA and OCSP keys stay in the HSM (key_id
-- names their hsm_keys row) and residents' keys are stored only wrapped by a
-- signing-kek key that never leaves the HSM.

-- The certificates of the CA itself: the root, the issuing CA "Residents",
-- the TSA and the OCSP responder. kind's current certificate is the row with
-- replaced_at NULL; a renewal (the OCSP responder's, yearly) sets
-- replaced_at on the old row in the transaction that inserts the new one.
-- issuer_id is NULL for the self-signed root. revoked_at/reason are for the
-- root CRL (a revoked issuing CA) and the issuing CA's CRL (TSA, OCSP).
CREATE TABLE ca_certificates (
    id          TEXT    NOT NULL PRIMARY KEY,
    kind        TEXT    NOT NULL,
    key_id      TEXT    NOT NULL,
    issuer_id   TEXT    REFERENCES ca_certificates (id),
    serial      TEXT    NOT NULL,
    der         BLOB    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    replaced_at INTEGER,
    revoked_at  INTEGER,
    reason      INTEGER,
    CONSTRAINT ca_certificates_serial_key UNIQUE (serial),
    CONSTRAINT ca_certificates_kind_check CHECK (kind IN ('root', 'issuing', 'tsa', 'ocsp'))
) STRICT;
-- One current certificate per kind: of two nodes initialising at once, one wins.
CREATE UNIQUE INDEX ca_certificates_one_current ON ca_certificates (kind) WHERE replaced_at IS NULL;

-- The pseudonym in a resident's certificates (subject serialNumber, ETSI EN
-- 319 412-1 §5.1.3), random, made at the first issuance and reused after.
-- No foreign key: the certificates that carry it outlive the account.
CREATE TABLE signing_pseudonyms (
    resident_id TEXT    NOT NULL PRIMARY KEY,
    pseudonym   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    CONSTRAINT signing_pseudonyms_pseudonym_key UNIQUE (pseudonym)
) STRICT;

-- Residents' certificates. The key pair was generated in the HSM and is
-- kept only as wrapped_key, sealed by the signing-kek key kek_id
-- (hsm_keys.id); public_key is its DER SubjectPublicKeyInfo. Revocation
-- erases wrapped_key (the key can never sign again) and keeps the row for the
-- CRL and OCSP. resident_id has no foreign key on purpose: deleting an
-- account must not delete its certificates' revocation records.
CREATE TABLE signing_certificates (
    id            TEXT    NOT NULL PRIMARY KEY,
    resident_id   TEXT    NOT NULL,
    issuer_id     TEXT    NOT NULL REFERENCES ca_certificates (id),
    serial        TEXT    NOT NULL,
    der           BLOB    NOT NULL,
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    key_algorithm TEXT    NOT NULL,
    public_key    BLOB    NOT NULL,
    kek_id        TEXT    NOT NULL,
    wrapped_key   BLOB,
    status        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    reason        INTEGER,
    revoked_by    TEXT,
    CONSTRAINT signing_certificates_serial_key UNIQUE (serial),
    CONSTRAINT signing_certificates_status_check CHECK (
        (status = 'valid' AND wrapped_key IS NOT NULL AND revoked_at IS NULL) OR
        (status = 'revoked' AND wrapped_key IS NULL AND revoked_at IS NOT NULL AND reason IS NOT NULL))
) STRICT;
-- One valid certificate per resident at a time.
CREATE UNIQUE INDEX signing_certificates_one_valid ON signing_certificates (resident_id) WHERE status = 'valid';
CREATE INDEX signing_certificates_resident ON signing_certificates (resident_id, created_at);
CREATE INDEX signing_certificates_revoked ON signing_certificates (issuer_id) WHERE status = 'revoked';

-- The current CRL of each CA (RFC 5280 §5), so that every node serves the
-- same bytes. number is the cRLNumber, increasing by one per CRL; covers is
-- how many revocations of the issuer the CRL was built from, so that a
-- revocation whose CRL regeneration failed is caught at the next request.
CREATE TABLE ca_crls (
    issuer_id   TEXT    NOT NULL PRIMARY KEY REFERENCES ca_certificates (id),
    number      INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    covers      INTEGER NOT NULL,
    der         BLOB    NOT NULL
) STRICT;
