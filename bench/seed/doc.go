// Package seed fills a development or benchmark database with a population
// of residents for the load generator's eidp scenarios (bench/eidpflow):
// each resident with an account, a passkey, a remembered consent for the
// bench client and, if asked, five attributes in the personal-data vault.
// `eidp dev seed` runs it (cmd/eidp/dev.go); it refuses a production
// configuration.
//
// Resident number i (0 ≤ i < MaxResidents) has the identity-card number
// IDNumber(i) — "Z", six digits and a valid check digit, a prefix the demo
// register does not use — and the account ID and passkey that
// population.Derive(keySeed, i) gives: the load generator derives the same
// values from the same key seed, so it can sign WebAuthn assertions
// (WebAuthn L3 §6.3.3) for any resident without a key file. The passkey is
// stored as a registration would store a device-bound credential with
// "none" attestation (§8.7) and a signature counter that stays 0 (§6.1.1),
// through passkey.InsertCredential: no registration ceremony is run, which
// is why this package exists only for development.
//
// The consent (idp/consent) covers LoginScopes, plus VaultScopes with the
// vault, naming every claim they ask for (OIDC Core §5.4), as the consent
// page would when the resident keeps every box ticked: the authorization
// endpoint then answers a seeded resident's request without asking. Vault
// values are checked with vault/attr's Validate and written with
// vault.Put, so they are encrypted under a data key wrapped by the
// vault-kek, exactly as a resident's own.
//
// With Options.Certificates (`eidp dev seed --certificates`) every resident
// is at assurance level high and holds a signing certificate of eidp's CA,
// issued through ca.Authority.Issue exactly as the enrolment page does (ETSI
// EN 319 412-2 profile, key generated in the key backend and kept wrapped
// under the signing-kek key), and the consent also covers the CSC API's
// "service" scope, so that a service token for credentials/list and
// credentials/authorize comes from a login without the consent page (the
// load generator's sign-hash and pades scenarios). Result.IssueTime is the
// wall time of the issuance alone: the CA's certificates-per-second figure.
// The enrolment's fresh passkey check is skipped, which is another reason
// this package exists only for development.
//
// A run is idempotent: residents are written in batches of one transaction
// each, those that exist are skipped (their missing consent or vault
// attributes completed), so a later run with more residents extends the
// population.
package seed
