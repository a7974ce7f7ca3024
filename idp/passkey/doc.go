// Package passkey runs the WebAuthn ceremonies with which residents create
// and use passkeys, keeps their credentials, and applies the city's
// authenticator policy.
//
// eidp has no passwords (DESIGN.md, principle 2): a passkey with user
// verification — the phone's fingerprint, face or screen lock — is how a
// resident logs in, re-confirms before adding a device, and later approves
// signatures. This package is the only place that speaks WebAuthn Level 3
// (https://www.w3.org/TR/webauthn-3/); it builds on
// github.com/go-webauthn/webauthn and adds what a Relying Party has to decide
// for itself: where ceremony state lives, which authenticators are welcome,
// and what a cloned authenticator means.
//
// # Ceremonies
//
// Each ceremony is a Begin/Finish pair. Begin returns the options JSON the
// page hands to PublicKeyCredential.parseCreationOptionsFromJSON or
// parseRequestOptionsFromJSON (the bare options object, not wrapped in
// {"publicKey": …}); Finish takes what credential.toJSON() produced.
//
//   - Registration (§7.1): discoverable credential (residentKey required),
//     user verification required, the resident's unblocked credentials in
//     excludeCredentials, ES256/EdDSA/RS256, any kind of authenticator. At
//     most MaxCredentials per resident.
//   - Login (§7.2): discoverable ("usernameless"): allowCredentials is empty
//     and the authenticator returns the user handle, which is the resident's
//     random internal ID and never personal data. The same options serve a
//     modal get() and conditional mediation; the page chooses.
//   - Re-authentication: an assertion by an already logged-in resident with
//     allowCredentials = their unblocked credentials, asked for before a
//     sensitive change such as adding a device.
//
// A challenge lives in webauthn_challenges: keyed by the challenge itself,
// bound to the SHA-256 of the browser's flow cookie and to the ceremony
// (and resident), valid for Config.ChallengeTTL, and used once whatever the
// outcome (§13.4.3): a successful Finish deletes it in the same transaction
// that records the result, so that of two concurrent uses only one commits,
// and a failed Finish deletes it on the way out. A replayed response finds
// nothing. A response presented in another flow does not touch the
// challenge. Expired rows are swept now and then by Begin calls.
//
// # Policy
//
// Policy is what the city accepts beyond the specification:
//
//   - Attestation conveyance (§5.4.7): "none" by default. Residents' phones
//     mostly answer "none" anyway, and without a metadata service the
//     AAGUID is the authenticator's own claim. AAGUID allow and deny lists
//     are therefore a filter against honest authenticators (and a way to
//     shut out a model later found broken), not proof of a model.
//   - AAGUID lists (§6.5.1): a deny list, an allow list, and whether the
//     all-zero AAGUID (reported by many platform and synced passkeys) is
//     accepted. Checked at registration and again at every assertion, so a
//     model denied later stops working at once.
//   - Backup eligibility (§6.1.3, BE/BS flags): synced passkeys are accepted
//     unless the policy denies them; the BS flag is tracked at each use.
//   - Signature counter (§6.1.1; §7.2, the signCount step): a counter that
//     does not grow, when either it or the stored one is non-zero, signals a
//     possible clone. "block" (default) records it and blocks the credential for good
//     in a committed transaction, even though the ceremony fails; "flag"
//     records it (Credential.SignCountRegressedAt) and lets the login
//     through. Counters that stay 0 — synced passkeys — are normal.
//
// The zero Policy is the default policy (its switches are phrased DenyX so
// that leaving one out keeps the default).
//
// # Errors
//
// Errors match the package's sentinels with errors.Is (ErrChallenge,
// ErrVerification, ErrUserVerification, ErrPolicy …) and, where
// go-webauthn found the fault, also wrap its *protocol.Error. Their text is
// for logs, not for residents; LogDetail adds go-webauthn's DevInfo and
// this package's own detail for server logs.
//
// Tables: passkey_credentials, webauthn_challenges
// (migrations/*/0002_residents.sql).
package passkey
