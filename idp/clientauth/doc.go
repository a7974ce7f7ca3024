// Package clientauth authenticates OAuth 2.0 clients at the token, PAR
// (RFC 9126 §2.1), introspection (RFC 7662 §2.1) and revocation (RFC 7009
// §2.1) endpoints, and verifies signed request objects (RFC 9101). Both come
// down to "a JWT signed with a key the client registered", so both live
// here, with the client key sets they share.
//
// # Client authentication
//
// Authenticate takes the credentials as the HTTP layer parsed them and
// accepts exactly one method (RFC 6749 §2.3: a client MUST NOT use more than
// one), which must be the client's registered token_endpoint_auth_method
// (OpenID Connect Core §9):
//
//   - client_secret_basic and client_secret_post (RFC 6749 §2.3.1): the
//     secret is checked by client.Store.VerifySecret. An unknown client and a
//     wrong secret get the same description, so that the endpoint cannot be
//     used to find client IDs.
//   - none: a public client (RFC 6749 §2.1) sends its client_id only; one
//     that sends a secret or an assertion is refused.
//   - private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect
//     Core §9): a JWS, never a JWE, signed with an asymmetric algorithm (the
//     client's token_endpoint_auth_signing_alg when registered; never none
//     or HMAC), with iss = sub = client_id, an aud naming the issuer or one
//     of our endpoints, a short exp, and a jti used once: every jti is
//     recorded in oidc_client_assertions until the assertion expires, by an
//     INSERT … ON CONFLICT DO NOTHING whose row count decides, so that a
//     replay is caught even when it reaches another node at the same time.
//
// The HTTP layer maps the errors: ErrInvalidClient to invalid_client (HTTP
// 401, RFC 6749 §5.2), ErrInvalidRequest to invalid_request,
// ErrInvalidRequestObject to invalid_request_object (RFC 9101 §6.3). Each
// comes as an *Error whose Description is safe for error_description;
// database failures come as themselves (a server_error).
//
// # Client keys
//
// ClientKeys returns the client's public keys: its jwks metadata, or its
// jwks_uri fetched through the SSRF-safe internal/fetch.Fetcher and cached
// there. A JWS that names a kid the cached set lacks makes one refetch (the
// client rotated its keys), at most once per minute per client, so that
// made-up kids cannot turn eidp into a request generator. Keys with private
// material, symmetric keys, and RSA keys under 2048 bits are never used.
//
// # Request objects
//
// VerifyRequestObject checks a request object passed by value (RFC 9101 §4,
// §6.3; OpenID Connect Core §6.1): signed with one of the client's keys (alg
// none refused), iss = client_id, aud = the issuer, exp in the future and at
// most an hour ahead, nbf respected, a client_id claim (if any) equal to the
// client, and no request or request_uri inside (RFC 9101 §4). The claims come
// back as a JSON object for the caller to turn into authorization
// parameters.
//
// A client assertion and a request object are both JWTs from the client to
// eidp. So that one is never accepted as the other (a request object travels
// through the browser), an assertion typed oauth-authz-req+jwt or carrying
// response_type is refused, and so is a request object typed
// client-authentication+jwt.
//
// Table: oidc_client_assertions (migrations/*/0006_oidc.sql).
package clientauth
