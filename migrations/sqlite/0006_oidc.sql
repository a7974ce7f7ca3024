-- The OpenID Provider's state (idp/provider and the packages beside it).
-- Timestamps: Unix microseconds, UTC (see migrations/doc.go). Every secret
-- handed out (authorization codes, refresh tokens) is stored as the hex
-- SHA-256 of a 256-bit random value, never in the clear.

-- Authorization requests that outlive one HTTP request: pushed ones (RFC 9126
-- PAR; request_uri = urn:ietf:params:oauth:request_uri:<id>) and interactive
-- ones waiting for the resident to log in or consent in a browser. params is
-- the validated request as JSON. A pushed request's request_uri is single-use:
-- used_at is set by the authorization request that consumes it.
CREATE TABLE oidc_authz_requests (
    id         TEXT   NOT NULL PRIMARY KEY,
    kind       TEXT   NOT NULL,
    client_id  TEXT   NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    params     TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    CONSTRAINT oidc_authz_requests_kind_check CHECK (kind IN ('pushed', 'interactive'))
) STRICT;
CREATE INDEX oidc_authz_requests_expires ON oidc_authz_requests (expires_at);

-- A grant: what one authorization by a resident
-- gave one client for one resident, and the family of tokens issued from it.
-- Codes, refresh tokens and access tokens (by their jti prefix) all point at
-- their grant; revoking the grant (code reuse, refresh-token reuse, consent
-- withdrawn, session ended, resident's request) stops every one of them.
-- session_id is the login session the grant came from (sessions.id; no
-- foreign key: the grant's revocation, not a cascade, is the record of it).
-- claims is the JSON of the granted claims request (OIDC Core §5.5 shape,
-- narrowed to what the resident consented to); amr a JSON array.
CREATE TABLE oidc_grants (
    id             TEXT   NOT NULL PRIMARY KEY,
    client_id      TEXT   NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    resident_id    TEXT   NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    session_id     TEXT   NOT NULL,
    scope          TEXT   NOT NULL,
    claims         TEXT   NOT NULL,
    auth_time      INTEGER NOT NULL,
    acr            TEXT   NOT NULL,
    amr            TEXT   NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
) STRICT;
CREATE INDEX oidc_grants_resident ON oidc_grants (resident_id, client_id);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);
CREATE INDEX oidc_grants_expires ON oidc_grants (expires_at);

-- Authorization codes (single-use, short-lived). A second use revokes the
-- grant and with it every token the first use issued (RFC 6749 §4.1.2).
-- params: what the token request must match and the ID token must carry
-- (redirect_uri, code_challenge, nonce, ...), as JSON.
CREATE TABLE oidc_codes (
    code_hash  TEXT   NOT NULL PRIMARY KEY,
    grant_id   TEXT   NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    params     TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX oidc_codes_expires ON oidc_codes (expires_at);

-- Refresh tokens, opaque. Rotated on use for public clients: used_at marks
-- a rotated token, and presenting it again revokes the grant.
CREATE TABLE oidc_refresh_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    grant_id   TEXT   NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX oidc_refresh_tokens_grant ON oidc_refresh_tokens (grant_id);
CREATE INDEX oidc_refresh_tokens_expires ON oidc_refresh_tokens (expires_at);

-- Access tokens (RFC 9068 JWTs) revoked one by one (RFC 7009) before they
-- expire; kept until they would have expired anyway.
CREATE TABLE oidc_revoked_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX oidc_revoked_tokens_expires ON oidc_revoked_tokens (expires_at);

-- Consent, remembered per resident and client: the scopes and the claims
-- (a JSON array of claim names, without the optional ones the resident
-- unticked) the resident agreed to release. Withdrawing consent deletes
-- the row and revokes the client's grants for that resident.
CREATE TABLE oidc_consents (
    resident_id TEXT   NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    client_id   TEXT   NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope       TEXT   NOT NULL,
    claims      TEXT   NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (resident_id, client_id)
) STRICT;

-- private_key_jwt client assertions seen (RFC 7523 §3: jti replay), kept
-- until the assertion expires.
CREATE TABLE oidc_client_assertions (
    client_id  TEXT   NOT NULL,
    jti        TEXT   NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) STRICT;
CREATE INDEX oidc_client_assertions_expires ON oidc_client_assertions (expires_at);

-- Back-channel logout notifications waiting to be delivered (OpenID Connect
-- Back-Channel Logout 1.0): subject and sid as that client knows them; the
-- logout token is signed at each attempt. Delivered rows are deleted; so are
-- rows that ran out of attempts (logged).
CREATE TABLE oidc_logout_deliveries (
    id              TEXT   NOT NULL PRIMARY KEY,
    client_id       TEXT   NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    subject         TEXT   NOT NULL,
    sid             TEXT   NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_error      TEXT
) STRICT;
CREATE INDEX oidc_logout_deliveries_due ON oidc_logout_deliveries (next_attempt_at);
