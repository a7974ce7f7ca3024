// Package jades makes and checks JAdES signatures (ETSI TS 119 182-1) on JSON
// documents such as e-form submissions: baseline B-B and B-T, in the JWS
// JSON Serialization (RFC 7515 §7.2.2, flattened), and reads the general JSON
// and compact serializations too.
//
// A signature made by Sign carries, in the JWS Protected Header (TS 119 182-1
// §5.1, §5.2):
//
//   - alg: ES256/ES384/ES512 by the ECDSA curve, PS256 (default) or RS256 for
//     RSA (RFC 7518 §3.1);
//   - cty when the caller names the content type (RFC 7515 §4.1.10);
//   - x5t#S256, the SHA-256 digest of the signing certificate (RFC 7515
//     §4.1.8), which is the signing-certificate reference JAdES requires
//     (TS 119 182-1 §5.1);
//   - x5c, the signing certificate first and then its chain, each standard
//     base64 DER (RFC 7515 §4.1.6);
//   - sigT, the claimed signing time as "YYYY-MM-DDThh:mm:ssZ" (§5.2.1);
//   - crit listing "sigT": every JAdES-defined parameter of the protected
//     header, and none of RFC 7515/7518's own, which RFC 7515 §4.1.11
//     forbids in crit (TS 119 182-1 §5.2).
//
// TS 119 182-1 V1.2.1 deprecates sigT in favour of the JWT iat claim; sigT is
// what V1.1.1 validators, including the EU DSS library, expect, so we write it.
//
// B-T adds, in the unprotected header, the etsiU array (§5.3.1) holding one
// sigTst element (§5.3.4). The element is written base64url-encoded (the
// form §5.3.1 allows as an alternative to clear JSON, and that keeps the
// encoding of the element exact for later archive time-stamps):
//
//	"header": {"etsiU": [BASE64URL({"sigTst":{"tstTokens":[{"val":"<base64 DER>"}]}})]}
//
// The time-stamp token's message imprint is computed over the base64url
// JWS Signature Value, as ASCII bytes (§5.3.4): see Signature.TimestampedData.
// Timestamps are requested with SHA-256.
//
// The signer is any crypto.Signer, an HSM key in production. Signers return
// ECDSA signatures in ASN.1 DER; JWS wants the fixed-size r||s of RFC 7518
// §3.4, so Sign converts. Signatures are verified once after signing, which
// catches a certificate that does not belong to the key and faulty signers.
//
// Parse reads a signature without trusting it; Signature.Verify checks the
// signature value with the x5c key, the x5t#S256 reference and the crit
// rules. Trust in the certificate chain, revocation and the time-stamp are
// the validator's business (package eidp/signing/verify).
package jades
