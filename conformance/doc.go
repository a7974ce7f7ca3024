// Package conformance holds protocol suites that run against the real eidp
// binary over HTTP, with clients that eidp did not write. It has no code of
// its own, only tests (DESIGN.md, Testing).
//
// The browser suite drives Debian's Chromium (headless, through
// github.com/chromedp/chromedp) with the DevTools WebAuthn virtual
// authenticator standing in for a resident's phone: CTAP2, internal
// transport, resident keys, user verification. It proves, for what a
// resident sees and does on the pages in English and Traditional Chinese:
//
//   - registration: identity proofing against the demo civil register, a
//     discoverable passkey created with user verification, recovery codes
//     shown once, the account page; then usernameless login — on SQLite and
//     on PostgreSQL;
//   - a second device: re-authentication with the first passkey, the new
//     credential on another authenticator (the first excluded), login with
//     the second device alone, removal of the first passkey;
//   - recovery of a lost phone with a recovery code: the new passkey is the
//     only one, the old phone's session is gone and its passkey no longer
//     logs in, the code works once;
//   - that the server, not only the browser, enforces user verification
//     (an assertion with UV=0 is refused), refuses a replayed assertion, an
//     assertion replayed into another browser flow, and an assertion made on
//     another origin under the same RP ID (a relaying phishing page);
//   - that a signature counter that goes backwards blocks the credential
//     for good, and the account page says so;
//   - that every page renders on a phone-sized screen in both languages
//     without horizontal overflow or untranslated text (with
//     EIDP_SCREENSHOTS=1 the same test writes docs/screenshots/*.png).
//
// The OpenID Connect suite puts a relying party built on the stock
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2 libraries (oidc_test.go:
// registered with `eidp clients create`, configured from discovery) on the
// other side of every flow, with Chromium as the resident:
//
//   - oidc_flows_test.go: the code flow, plain and pushed (PAR), on both
//     engines, ID token verified by go-oidc, userinfo, refresh, pairwise
//     subjects across sectors, the ID-card scope; client credentials,
//     introspection and revocation; RP-initiated and back-channel logout;
//     key rotation while go-oidc keeps verifying; CORS for browser clients;
//   - oidc_negative_test.go: negative tests named after the OpenID
//     Foundation conformance-suite modules they mirror (redirect URIs, code
//     reuse, PKCE, prompt=none, max_age, prompt=login, id_token_hint,
//     request_uri reuse, private_key_jwt audience/replay, request objects);
//   - oidc_spec_test.go: discovery, JWKS, token, access-token and userinfo
//     responses checked field by field against the specifications;
//   - admin_test.go: the admin API with a client-credentials eidp:admin token;
//   - vault_test.go: vault claims released with consent, unticked claims
//     withheld, the access log, re-consent for new data, withdrawal.
//
// TestMain builds cmd/eidp once and starts one browser for the package; each
// test opens its own tab in a fresh browser context (its own cookies) and
// runs the binary with a clean environment on a free port, visited as
// http://localhost:PORT (a secure context whose RP ID is "localhost").
//
// Chromium comes from the Debian package chromium; without it the browser
// tests skip with the install command, or fail under CI=true. PostgreSQL
// runs where EIDP_TEST_POSTGRES_URL names a throwaway cluster
// (./scripts/test starts one).
package conformance
