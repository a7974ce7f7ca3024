// Package grant keeps the OpenID Provider's token state in the database, so
// that any eidp node can serve any step of a flow: authorization requests
// that outlive one HTTP request, grants, authorization codes, refresh tokens
// and individually revoked access tokens.
//
// Authorization requests are either pushed (RFC 9126 PAR: the request_uri
// urn:ietf:params:oauth:request_uri:<id> is bound to the client that pushed
// it, short-lived (§2.2 expires_in) and single-use (§4)) or interactive (the validated
// request waiting while the resident logs in or consents in a browser).
//
// A grant is one authorization a resident gave one client. Codes, refresh
// tokens and access tokens (whose jti carries the grant ID) all hang off
// their grant, and revoking the grant stops every one of them:
//
//   - Authorization codes are single-use and short-lived; a second use
//     revokes the grant and with it every token the first use issued
//     (RFC 6749 §4.1.2, §10.5 — reason "code_reuse").
//   - Refresh tokens are bound to the client (RFC 6749 §6) and, for public
//     clients, rotated on every use; presenting a rotated token again revokes
//     the grant (RFC 9700 §4.14.2 — reason "refresh_reuse").
//   - Revoking a refresh token revokes its grant, which also invalidates the
//     access tokens of that grant (RFC 7009 §2.1); a token of another client
//     is not revoked (RFC 7009 §2.1, the server verifies the token was issued
//     to the requesting client).
//   - An access token (RFC 9068 JWT) can also be revoked alone by its jti,
//     remembered until it would have expired.
//   - RevokeForSession returns the grants it revoked, whose clients are owed
//     a logout token (OpenID Connect Back-Channel Logout 1.0 §2.5).
//
// Every secret handed out (codes, refresh tokens, request IDs) is 256 random
// bits, base64url without padding; codes and refresh tokens are stored only
// as their hex SHA-256 (a fast hash is enough for values of that entropy),
// so a copy of the database redeems nothing. Request IDs are stored as they
// are: a pushed request is still bound to its client.
//
// Tables: oidc_authz_requests, oidc_grants, oidc_codes, oidc_refresh_tokens,
// oidc_revoked_tokens (migrations/*/0006_oidc.sql). Sweep removes what has
// expired.
package grant
