// Package hsm is the key-backend contract of eidp. Token-signing keys, CA
// keys, the TSA key, vault key-encryption keys and residents' signing keys are
// created and used only through a KeyManager, so that private keys never enter
// application memory when a PKCS#11 module is configured.
//
// Backends live in sub-packages: hsm/pkcs11 (any PKCS#11 token, addressed by
// RFC 7512 URIs) and hsm/soft (keys sealed in files, for development only).
// hsm/hsmtest is the conformance suite both must pass; hsm/keyring records
// which key serves which role. JOSE signing goes through OpaqueSigner so that
// go-jose and zitadel/oidc sign with backend keys unchanged, and Observe
// wraps a backend to measure every operation (latency and errors, for
// metrics).
package hsm
