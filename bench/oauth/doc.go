// Package oauth holds the load generator's standard OAuth 2.0 / OpenID
// Connect scenarios. They are server-agnostic: endpoints come from discovery
// (OpenID Connect Discovery 1.0 §4, or RFC 8414 §3) or from flags, client
// credentials from flags, and nothing here imports eidp — only net/http,
// encoding/json and go-jose — so the same generator measures eidp and a
// peer server side by side (DESIGN.md "Performance").
//
// Importing the package registers the scenarios and their flags with
// bench/loadgen (see its doc.go):
//
//   - client-credentials: grant_type=client_credentials (RFC 6749 §4.4) with
//     client_secret_basic (§2.3.1: id and secret form-urlencoded, then
//     base64).
//   - client-credentials-jwt: the same with private_key_jwt (RFC 7523 §2.2,
//     §3): a fresh assertion per request, iss = sub = client_id, aud = the
//     token endpoint, a random 128-bit jti, one minute of life, signed ES256
//     (ES384/ES512 by curve), RS256 for an RSA key, EdDSA for Ed25519.
//   - refresh: grant_type=refresh_token (RFC 6749 §6). A server that
//     rotates refresh tokens (RFC 9700 §4.14.2) answers each with a new one,
//     which the worker keeps; such a server needs one token per worker
//     (-refresh-token-file), and Setup refuses a single token shared by
//     several workers once a trial refresh shows it rotated (the token is
//     then spent). The tokens are not obtained here: for eidp, take them
//     from the login-flow scenario of bench/eidpflow or a code flow run by
//     hand; with rotation, the tokens in the file are used up by a run.
//   - userinfo: GET with the access token as Bearer (RFC 6750 §2.1, OpenID
//     Connect Core §5.3); 200 with a JSON object (or a signed JWT,
//     verified) holding a sub, the same sub on every call with one token.
//     eidp serves userinfo only for a resident's token: give it with -token
//     or -token-file. Without one, Setup obtains a client-credentials token
//     and tries it once, for servers that accept that.
//   - introspection: POST token=… with client authentication (RFC 7662
//     §2.1); 200 with "active": true and an exp (if any) not past. The
//     token is -token, or one obtained with the client credentials grant.
//
// Refresh, userinfo and introspection authenticate with private_key_jwt
// when -key is given, client_secret_basic when -client-secret is, and as a
// public client (client_id in the body) otherwise.
//
// # Every response is checked
//
// A token response must be 200, application/json, with access_token,
// token_type Bearer (case-insensitive, RFC 6750 §4) and a positive
// expires_in (RFC 6749 §5.1). An access token that is a JWT (RFC 9068) is
// verified: signature against the server's JWKS (fetched in Setup, fetched
// again — at most once a second — when a token names an unknown kid),
// exp/nbf/iat with 5 s of leeway, iss equal to the issuer, client_id and azp
// equal to the client when present. An opaque access token is accepted and
// counted: the result's note says how many were JWTs and how many opaque,
// so a comparison with a server issuing opaque tokens is read fairly.
//
// Failures come as loadgen.Failure with these kinds: status (with the OAuth
// error code when the body has one), body (not JSON, wrong content type),
// token_format, signature (bad signature or unknown key), claims (expired,
// other client, no sub), inactive, jwks. No detail ever holds a token or a
// secret.
package oauth
