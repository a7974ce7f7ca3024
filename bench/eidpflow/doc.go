// Package eidpflow holds the load generator's eidp-specific scenarios
// (bench/loadgen): what a relying party makes eidp do when a resident
// logs in, measured without a browser.
//
// login-flow is the whole authorization code flow of OpenID Connect Core
// §3.1 for one resident per iteration, each with its own cookie jar (one
// browser): a pushed authorization request with PKCE S256, state and nonce
// (RFC 9126 §2, RFC 7636 §4) authenticated with client_secret_basic
// (RFC 6749 §2.3.1), or, without a secret, as a public client (client_id
// in the PAR and token request bodies); the authorization endpoint with
// request_uri, which sends a browser without a session to /login; the
// login page, for the
// flow cookie and the CSRF token it embeds; the passkey ceremony's JSON
// API (POST /api/passkey/login/options, then /api/passkey/login) with an
// assertion made by a software authenticator (passkeytest) — real
// clientDataJSON for the issuer's origin, authenticatorData for the RP ID
// of the options with UP and UV set, an ES256 signature (WebAuthn L3
// §6.3.3, §7.2); the return to the authorization, which answers at once
// because the consent is remembered, with code, state and iss (RFC 9207);
// the token request with the code verifier; the ID token checked as a
// client must (Core §3.1.3.7: signature against the JWKS, iss, aud, azp,
// exp, iat, nonce); and UserInfo (Core §5.3), whose sub must be the ID
// token's. No redirect is followed automatically: each is a response to
// check. Every step that goes wrong is a loadgen.Failure whose kind names
// the step (KindPAR … KindUserinfo).
//
// vault-release measures UserInfo releasing five vault claims (address,
// phone_number, email, eidp_occupation, eidp_emergency_contact): each
// worker's access token comes from one login in Setup, and each iteration
// checks the claims' shapes — and costs the server a vault read, the
// decryption of five attributes and an access-log entry.
//
// The residents are a seeded population (`eidp dev seed`, bench/seed):
// resident i's account ID and passkey derive from the key seed and i
// (bench/seed/population), so the generator holds no key files. The n-th
// iteration begun, by whichever worker, uses resident FirstResident + n mod
// Residents. The server must allow many ceremonies from one address:
// start it with ceremony_rate_limit=0 and token_rate_limit=0
// (EIDP_CEREMONY_RATE_LIMIT=0, EIDP_TOKEN_RATE_LIMIT=0).
//
// sign-hash and pades measure remote signing (CSC API v2, signing/csc):
// Setup logs residents in with scope "openid service", asks
// credentials/authorize for one digest per future iteration and approves
// each request through the approval page's JSON API with the seeded
// passkey, so that every measured iteration holds a pre-authorised,
// single-use SAD. sign-hash posts signatures/signHash and verifies the
// signature with the certificate's key; pades posts signatures/signDoc
// with a generated PDF (1 MB by default) at PAdES-B-T and checks the signed
// PDF's new signature. Residents need certificates: `eidp dev seed
// --certificates`. Details in signing.go.
//
// login-tokens is login-flow that also writes each login's access and
// refresh tokens to -save-tokens FILE (one JSON line per login, mode 0600):
// how scripts/loadbench gets residents' tokens for bench/oauth's refresh
// and userinfo scenarios. Not a measurement of its own.
//
// Flags (besides bench/oauth's -issuer, -client-id, -client-secret and
// -client-secret-file): -key-seed, -residents, -first-resident,
// -redirect-uri; -save-tokens for login-tokens; for the signing scenarios
// -sads, -pdf, -pdf-size.
package eidpflow
