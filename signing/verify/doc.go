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
//   - The signing certificate's status comes from Verifier.Status; for a
//     PDF, when there is no source or it has no answer, from the
//     revocation data in the document's DSS (ETSI EN 319 142-1 §5.4.2,
//     read with pdf.Document.DSS; the signature's /VRI entry included). An
//     OCSP response (RFC 6960) counts when its CertID names the
//     certificate and its issuer (§4.1.1) and it is signed by the issuer or
//     by a delegated responder (§4.2.2.2: certified by the issuer,
//     id-kp-OCSPSigning, chaining to Verifier.Roots), embedded in the
//     response or among the DSS certificates; a CRL (RFC 5280 §5) counts
//     when the issuer signed it and it has no critical extension (no
//     partitioned, indirect or delta CRLs). A revocation is taken from
//     either whenever it was issued, and wins over a source that says good;
//     "good" only from data issued after the signature's proof of
//     existence (TS 119 102-1 §5.2.5), or current now when there is none.
//     SignatureReport.StatusSource says which gave the status
//     ("status-source", "ocsp-dss", "crl-dss"). A revocation at or before
//     the claimed signing time is
//     TOTAL_FAILED/REVOKED; a revocation after a POE does not harm the
//     signature; any other revocation is INDETERMINATE/REVOKED_NO_POE. No
//     status (no source, no answer, or a certificate the source does not
//     know) is INDETERMINATE/TRY_LATER with status "unknown": TS 119 102-1
//     cannot pass a certificate whose status is unknown. Only the signing
//     certificate's status is asked for, not the CA certificates'.
//   - A PAdES signature is B-LT (EN 319 142-1 §6.3) when it is B-T, every
//     certificate of its path, trust anchor included, is in the DSS, and
//     the DSS's revocation data gives the signing certificate's status as
//     above. The DSS certificates also help build the signer's and the
//     TSA's paths. Revocation data for the CA and TSA certificates is not
//     required or checked, and a DSS that cannot be read is named in the
//     warnings and not used.
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
