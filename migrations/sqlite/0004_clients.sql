-- OAuth 2.0 / OpenID Connect clients (idp/client): the departments' and
-- banks' relying parties. Timestamps: Unix microseconds, UTC (see
-- migrations/doc.go).
--
-- metadata is the client's registered metadata as a JSON object with the
-- RFC 7591 §2 / OpenID Connect Dynamic Client Registration §2 names; the
-- store reads and writes it whole. Only what the database must check or
-- find sits in columns of its own: the client_id, the authentication method
-- (which decides whether a secret exists) and the secret's hash.
-- client_secret_hash is the hex SHA-256 of a 256-bit random secret (the
-- secret itself is shown once and never stored); it is present exactly when
-- the client authenticates with client_secret_basic or client_secret_post.
CREATE TABLE oauth_clients (
    id                         TEXT   NOT NULL PRIMARY KEY,
    token_endpoint_auth_method TEXT   NOT NULL,
    client_secret_hash         TEXT,
    metadata                   TEXT   NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    CONSTRAINT oauth_clients_auth_method_check CHECK (token_endpoint_auth_method IN
        ('private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none')),
    CONSTRAINT oauth_clients_secret_check CHECK ((client_secret_hash IS NOT NULL) =
        (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post')))
) STRICT;
