// Package pkcs11 is the hsm.KeyManager for hardware security modules and
// smart cards reached through a PKCS #11 module (SoftHSM2 in development and
// tests). Private and secret keys are generated inside the token as
// non-extractable, sensitive token objects (PKCS #11 v2.40 Base §4.9, §4.10)
// and are addressed by RFC 7512 "pkcs11:" URIs built from the token label,
// the object's CKA_ID and its CKA_LABEL.
//
// A Backend holds one logged-in token: a per-process module registry (the
// module is loaded and C_Initialize'd once per path and never finalised), a
// pool of read/write sessions that replaces dead sessions and retries once, and
// a cache of object handles and public keys per CKA_ID so that a signature
// never searches the token (C_FindObjects grows with the number of objects).
//
// miekg/pkcs11 needs cgo. Without cgo the package still compiles: Options,
// ReadPIN and the URI parser work, and Open reports hsm.ErrUnavailable.
package pkcs11
