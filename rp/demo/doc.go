// Package demo is a demonstration relying party that eidp serves at /demo in
// development mode only: a newcomer clicks "Log in with eidp", logs in with a
// passkey, and sees what a department's service receives — the verified ID
// token (header and claims), the userinfo response and the access token's
// lifetime.
//
// It is an ordinary OpenID Connect client built only on stock libraries,
// github.com/coreos/go-oidc/v3/oidc and golang.org/x/oauth2, and it talks to
// the provider over HTTP like any department would; it never imports eidp's
// idp/ packages (DESIGN.md: rp/ modules use OIDC, not the provider's
// internals). Reading it shows a department what a correct client does:
//
//   - OpenID Connect Discovery 1.0 §4: the provider's metadata is fetched
//     lazily on first use (and fetched again on a later request if that
//     failed); go-oidc checks that its issuer is exactly ours.
//   - OpenID Connect Core 1.0 §3.1 authorization code flow with state
//     (RFC 6749 §10.12), nonce (Core §3.1.2.1, §3.1.3.7 step 11) and PKCE
//     S256 (RFC 7636 §4.2). The three values travel in a short-lived cookie
//     sealed with AES-256-GCM under a key made in New, so the browser can
//     neither read nor forge them.
//   - RFC 9207 §2.4: an iss parameter in the authorization response must
//     equal the issuer, and it must be present when the provider's metadata
//     says authorization_response_iss_parameter_supported.
//   - RFC 6749 §2.3.1 client_secret_basic at the token endpoint.
//   - ID token validation per Core §3.1.3.7 with go-oidc (signature from the
//     provider's JWKS, iss, aud = our client_id, exp), the nonce, and at_hash
//     (Core §3.1.3.8) when present; userinfo per Core §5.3, whose sub must
//     equal the ID token's (Core §5.3.2).
//   - OpenID Connect RP-Initiated Logout 1.0 §2: log out redirects to the
//     end_session_endpoint with id_token_hint, client_id and
//     post_logout_redirect_uri.
//
// Pages are rendered from embedded templates with an embedded stylesheet
// (no inline script or style, so the server's strict CSP holds).
package demo
