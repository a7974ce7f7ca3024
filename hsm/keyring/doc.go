// Package keyring records which backend key serves which role — the
// oidc-signing key, the vault key-encryption key, the signing-kek that wraps
// residents' signing keys, the CA and TSA keys — so that every eidp node
// behind a load balancer agrees on the active key of a role. The keys themselves stay in the key backend (package hsm); the
// database holds only their URIs, algorithms and lifecycle state.
//
// # Lifecycle
//
//	next ──activate_at──▶ active ──(replaced)──▶ retiring ──retire_at──▶ retired
//
// A role's first key is created active. Rotate follows the role's Policy:
// for oidc-signing (published in JWKS by idp/jwks) the new key is first
// next — published, not signing — for PublishAhead (default 1 h), so that
// relying parties have it in their JWKS caches before the first token it
// signs; then it becomes active and the key it replaces retiring, still
// published so the tokens it signed verify, for RetainAfter (default 24 h,
// the longest token lifetime); then retired: neither published nor used.
// Roles nobody fetches ahead of use (vault-kek, signing-kek, ca-*, tsa,
// ocsp) rotate at once and keep their retiring keys until an operator acts. RotateNow is the
// emergency rotation: active at once, the old key still published for
// RetainAfter. Backend keys are never destroyed automatically.
//
// Transitions are lazy: Advance makes those that are due, idempotently and
// safely from several nodes at once (one serializable transaction; at most
// one active key per role and one next key per role are enforced by partial
// unique indexes). Readers call it (Ensure, Signer, Published), and the
// server should run it periodically (AdvanceAll).
package keyring
