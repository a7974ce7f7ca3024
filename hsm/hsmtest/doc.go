// Package hsmtest is the conformance suite of the hsm.KeyManager contract.
//
// Every backend runs the same Run from its own tests (hsm/soft on a temporary
// directory, hsm/pkcs11 on a SoftHSM2 token), so the backends cannot drift
// apart in what callers rely on: URIs that survive a restart, signatures the
// standard library verifies, AES-GCM that detects any alteration, the same
// sentinel errors. Bench gives every backend the same signing benchmarks.
//
// It imports package testing and is meant for tests only: production code
// must not import it.
package hsmtest
