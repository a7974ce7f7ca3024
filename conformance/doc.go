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
