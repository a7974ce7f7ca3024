// Package keyring records which backend key serves which role — the
// oidc-signing key, the vault key-encryption key, the CA and TSA keys — so
// that every eidp node behind a load balancer agrees on the active key of a
// role. The keys themselves stay in the key backend (package hsm); the
// database holds only their URIs, algorithms and lifecycle state.
//
// Lifecycle: a key is created active; rotation creates a new active key and
// moves the previous one to retiring, where it still verifies and decrypts
// (JWKS keeps publishing it) but no longer signs or encrypts. At most one key
// per role is active, which the database enforces with a partial unique index.
package keyring
