// Package web serves the resident-facing pages — welcome, register, log in,
// account, recovery — and the JSON endpoints their passkey ceremonies call.
// Pages are server-rendered html/template with embedded assets and one small
// vanilla JavaScript file; there is no build step. Every string exists in
// English and Traditional Chinese (messages/*.json), chosen by ui_locales, a
// remembered toggle, or Accept-Language.
//
// Security: every state-changing form and JSON POST carries a CSRF token
// derived from the browser's flow cookie; the CSP allows no inline script;
// error messages never reveal whether an identity card number is known.
package web
