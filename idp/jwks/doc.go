// Package jwks publishes the OpenID Provider's token-signing keys (the
// jwks_uri document, RFC 7517 §5) and hands out the signer of the key that
// signs now. Both come from hsm/keyring: the published set is every next,
// active and retiring key of role oidc-signing, so that a key is published
// before it signs (keyring's PublishAhead) and after it stops (RetainAfter).
//
// A Set keeps the set and the active key's signer in memory and re-reads the
// keyring every refresh interval (default 30 s), calling keyring.Advance on
// the way, so a rotation made by another process (`eidp keys rotate`) or
// falling due is picked up by every running node without a restart. Signing
// never looks a key up: signers are built once per key ID and kept.
//
// # The "alg" member
//
// RFC 7517 §4.4 makes "alg" optional and, when present, binds the key to that
// one algorithm. EC keys have exactly one JWS algorithm (RFC 7518 §3.4), so
// they carry it: ES256 for P-256, ES384 for P-384 (EdDSA for Ed25519, RFC
// 8037). An RSA key serves RS256 by default and PS256 for clients that
// register id_token_signed_response_alg=PS256 with the same key, so RSA keys
// are published without "alg": a verifier takes the algorithm from the JWS
// header and checks it against what it expects from us.
package jwks
