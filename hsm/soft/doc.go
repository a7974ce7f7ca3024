// Package soft is the development key backend: every key lives in its own
// file in a directory, sealed with AES-256-GCM under a 32-byte master key.
//
// It exists so that eidp runs on a laptop and in unit tests without a PKCS#11
// token, behind the same hsm.KeyManager contract (and the same hsmtest
// conformance suite) as hsm/pkcs11. Private keys are decrypted into process
// memory, so it offers none of the protection of a hardware module: production
// configurations must not use it.
//
// Layout of the key directory:
//
//	<id>.key   nonce(12) || AES-256-GCM(master key, JSON record) || tag(16)
//
// where id is 16 random bytes in lowercase hex and the additional data binds
// the file to its id and to the format version, so a file renamed to another
// id or altered in any way no longer opens. Keys are addressed by URIs of the
// form "soft:id=<hex id>;object=<percent-encoded label>".
package soft
