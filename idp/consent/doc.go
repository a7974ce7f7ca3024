// Package consent remembers, per resident and client, what the resident
// agreed to release: the scopes and the claim names. The OpenID Provider
// asks for consent on the first authorization (OIDC Core §3.1.2.4) and again
// whenever a request asks for more than the remembered consent covers
// (Consent.Covers); the account page lists consents (List) and withdraws
// them (Delete). Withdrawing consent deletes the row; the provider then
// revokes the client's grants for that resident (table oidc_grants).
//
// The claims remembered are those the resident released, without the
// Voluntary ones they unticked on the consent page. A request is covered
// when its scopes are all consented and its Essential claims are all
// consented; a Voluntary claim that is not in the consent does not bring
// the consent page back, it is simply not released. A resident who
// unticked a claim is therefore not asked about it at every login, and a
// client that truly needs a claim marks it Essential (OIDC Core §5.5.1).
//
// Table: oidc_consents (migrations/*/0006_oidc.sql); scope is stored
// space-separated (RFC 6749 §3.3), claims as a JSON array, both sorted and
// without duplicates.
package consent
