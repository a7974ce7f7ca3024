// Package verify validates signed documents — PAdES (PDF), CAdES (CMS) and
// JAdES (JSON) — and answers with a validation report modelled on ETSI
// TS 119 102-1 (the validation process) and TS 119 102-2 (the report): an
// indication with a sub-indication per signature and for the whole
// document.
//
// The rules, for each signature (TS 119 102-1 §5.3 basic validation, §5.5
// validation with time):
//
//   - A signature that cannot be read, or uses a form we do not implement
//     (a PDF SubFilter other than ETSI.CAdES.detached, adbe.pkcs7.detached
//     or ETSI.RFC3161; a signature not starting at byte 0), is
//     TOTAL_FAILED/FORMAT_FAILURE.
//   - A digest that does not match the signed data is
//     TOTAL_FAILED/HASH_FAILURE; a signature value that does not verify with
//     the signing certificate's key is TOTAL_FAILED/SIG_CRYPTO_FAILURE. An
//     algorithm we refuse (SHA-1, …) is INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE.
//   - No signing certificate in the signature:
//     INDETERMINATE/NO_SIGNING_CERTIFICATE_FOUND. Signed content not given
//     for a detached signature: INDETERMINATE/SIGNED_DATA_NOT_FOUND.
//   - Time-stamps (B-T) are checked — the token's signature, its message
//     imprint over the signature value (RFC 3161 Appendix A; for JAdES the
//     base64url signature value, TS 119 182-1 §5.3.4), and the TSA
//     certificate's chain to the trusted roots. The earliest good one is the
//     proof of existence (POE) of the signature. A time-stamp that fails is
//     not used and is named in the report's warnings, as §5.5 discards it.
//     A PDF document time-stamp (ETSI.RFC3161) is reported like a signature
//     and is also a POE for the signatures of the revisions it covers.
//   - The signing certificate must chain to Verifier.Roots (with
//     Verifier.Intermediates and the certificates in the signature):
//     otherwise INDETERMINATE/NO_CERTIFICATE_CHAIN_FOUND. A POE before its
//     notBefore is TOTAL_FAILED/NOT_YET_VALID; a certificate expired now is
//     accepted when a POE shows the signature existed while it was valid,
//     else INDETERMINATE/OUT_OF_BOUNDS_NO_POE (OUT_OF_BOUNDS_NOT_REVOKED
//     when its status is good). A key usage without digitalSignature or
//     nonRepudiation is INDETERMINATE/CHAIN_CONSTRAINTS_FAILURE.
//   - The signing certificate's status comes from Verifier.Status. A
//     revocation at or before the claimed signing time is
//     TOTAL_FAILED/REVOKED; a revocation after a POE does not harm the
//     signature; any other revocation is INDETERMINATE/REVOKED_NO_POE. No
//     status (no source, no answer, or a certificate the source does not
//     know) is INDETERMINATE/TRY_LATER with status "unknown": TS 119 102-1
//     cannot pass a certificate whose status is unknown. Only the signing
//     certificate's status is asked for, not the CA certificates'.
//   - A PDF signature need not cover the whole file: what follows its
//     revision is an incremental update (the signed bytes are a prefix of
//     the file), and the report's coverage says "revision N of M". What the
//     later updates change is not analysed (no DocMDP/FieldMDP check).
//
// The document's indication is the worst of its signatures' (TOTAL_FAILED,
// then INDETERMINATE, then TOTAL_PASSED), with that signature's
// sub-indication and reason: a PDF whose later signature is invalid fails.
//
// Handler serves POST /signing/verify; OCSP is a StatusSource that asks the
// responder named in a certificate's AIA extension (RFC 6960, RFC 5280
// §4.2.2.1); AuthorityStatus answers from our own CA.
package verify
