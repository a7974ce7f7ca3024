// Package web serves the resident-facing pages — welcome, register, log in,
// account, recovery — and the JSON endpoints their passkey ceremonies call.
// For the OpenID Provider (through idp/interaction) it also serves the
// consent page (OIDC Core §3.1.2.4), the account's connected services with
// withdrawal, the login page's return to a pending authorization
// (/login?next=/authorize/…, never an open redirect), and the error page
// for authorization requests that must not be redirected (RFC 6749
// §4.1.2.1).
// With the personal-data vault (vault/) it serves My data: the register's
// details, the vault's attributes with their provenance and per-kind edit
// forms validated by vault/attr (optimistic versions: a change made in
// another window is shown, never overwritten), erasure, and the access log
// of releases to services in plain words; and the deletion of the account
// (Deps.DeleteAccount does the work).
// Pages are server-rendered html/template with embedded assets and one small
// vanilla JavaScript file; there is no build step. Every string exists in
// English and Traditional Chinese (messages/*.json), chosen by ui_locales, a
// remembered toggle, or Accept-Language.
//
// Security: every state-changing form and JSON POST carries a CSRF token
// derived from the browser's flow cookie; the CSP allows no inline script;
// error messages never reveal whether an identity card number is known.
package web
