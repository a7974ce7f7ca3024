// Package cms builds, parses and verifies CMS SignedData (RFC 5652) in the
// shape the ETSI baseline profiles need: CAdES (ETSI EN 319 122-1) for
// detached and enveloping signatures, PAdES (ETSI EN 319 142-1) for the
// signature dictionary's /Contents, and RFC 3161 time-stamp tokens (package
// signing/tsa signs TSTInfo through it).
//
// Keys stay in the HSM: SignDigest takes a crypto.Signer (an hsm.Signer's
// SignContext is used when present) and signs the DER SET of signed
// attributes (RFC 5652 §5.4). The signed attributes are content-type and
// message-digest (RFC 5652 §11.1, §11.2), signing-certificate-v2 (RFC 5035
// §3, required by EN 319 122-1 §5.2.2) and, when asked, signing-time (RFC
// 5652 §11.3; CAdES B-B requires it, PAdES B-B forbids it, EN 319 142-1
// §6.3). AddSignatureTimestamp adds the unsigned signature-time-stamp
// attribute (RFC 3161 Appendix A, EN 319 122-1 §5.3) to reach level B-T.
//
// Everything is written and read as DER with golang.org/x/crypto/cryptobyte;
// BER (indefinite lengths, constructed strings) is refused. Verify checks the
// signatures and attributes of a SignedData but not certificate chains: the
// caller builds chains against its own trust anchors.
//
// Algorithms: SHA-256/384/512 digests (RFC 5754); ECDSA (RFC 5753 §7.2,
// ecdsa-with-SHA*), RSA PKCS #1 v1.5 (sha*WithRSAEncryption; rsaEncryption is
// accepted when verifying) and RSASSA-PSS with MGF1 and a salt as long as the
// hash (RFC 4056). SHA-1 is not accepted for signatures.
package cms
