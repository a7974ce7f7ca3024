// Package provider is eidp's OpenID Provider: the endpoints departments and
// banks integrate with as ordinary OpenID Connect relying parties.
//
// It is built on github.com/zitadel/oidc/v3/pkg/op: the token,
// introspection and revocation endpoints run through op.RegisterServer with
// this package's op.Server implementation (zitadel parses the forms and
// client credentials and writes OAuth error bodies). The endpoints zitadel
// cannot serve as eidp needs them are here in full: authorization (PAR
// request_uri, signed request objects, RFC 9207 iss, pairwise subjects,
// prompt/max_age/acr step-up, consent), pushed authorization requests
// (RFC 9126), userinfo (RFC 6750 errors), discovery, JWKS (two signing
// roles), RP-initiated logout.
//
// # Tokens
//
//   - Authorization codes: 256-bit, single-use, 60 s, bound to client,
//     redirect_uri and an S256 PKCE challenge (required for every client).
//     A second use revokes the grant and every token issued from it.
//   - Access tokens: JWTs per RFC 9068 (typ at+jwt, ES256, aud = issuer,
//     jti = "<grant>.<random>" or "cc.<random>" for client credentials).
//     Userinfo and introspection check the signature, then that the token
//     was not revoked (RFC 7009) and that its grant is still active — so
//     withdrawing consent or ending the session stops them at once.
//   - ID tokens: sub (pairwise per sector unless the client is public),
//     auth_time, acr, amr, nonce, sid (per client, see idp/subject),
//     at_hash; signed with the client's id_token_signed_response_alg
//     (ES256 by default; RS256/PS256 with the oidc-signing-rsa key).
//   - Refresh tokens: opaque, stored hashed, issued to clients registered
//     for the refresh_token grant, rotated for public clients (reuse of a
//     rotated token revokes the grant), revoked with the consent or the
//     session they came from.
//
// # Assurance levels (acr)
//
//   - urn:eidp:acr:substantial — identity checked remotely against the civil
//     register, passkey with user verification.
//   - urn:eidp:acr:high — identity checked in person at a counter, passkey
//     with user verification.
//
// acr_values are voluntary (OIDC Core §3.1.2.1): a session below them is
// sent to log in again, and if the account's level is still lower the ID
// token says so in acr. An essential acr (claims parameter) that cannot be
// met ends with unmet_authentication_requirements.
//
// # Introspection
//
// A client may introspect only tokens issued to it; any other token is
// reported {"active": false} (RFC 7662 §2.2 leaves this to the server), so
// pairwise subjects cannot be joined through the introspection endpoint.
package provider
