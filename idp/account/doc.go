// Package account keeps residents' accounts: the row created when a resident
// registers after identity proofing, the recovery codes that let them back in
// when every passkey is lost, and the activity log that shows them what
// happened to their account.
//
// An account is the resident's identity inside eidp. Its ID is random and
// internal (relying parties only ever see pairwise subjects); its profile is
// a read-only copy of the civil-register record that proofing checked, and
// the ID-card number is unique, so that each identity has one account. The
// assurance level starts at what remote proofing established and is raised
// by an operator after attended proofing.
//
// Recovery codes are one-time secrets shown once and stored only as SHA-256
// hashes (DESIGN.md, Storage: high-entropy values need no slow hash); using
// one is atomic, so two concurrent uses of a code cannot both succeed.
//
// The activity log records events (logins, passkeys, recoveries, revoked
// sessions, level changes) with a small detail map that must never hold
// personal data, tokens or secrets: the resident sees it on the account page.
//
// Tables: residents, recovery_codes, account_activity
// (migrations/*/0002_residents.sql).
package account
