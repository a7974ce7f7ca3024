// Package formats assembles the AdES signatures eidp produces from the
// parts in signing/cms, signing/pdf, signing/jades and signing/tsa, with a
// resident's key in the HSM:
//
//   - CAdES baseline (ETSI EN 319 122-1): a detached CMS SignedData with
//     signing-time and signing-certificate-v2 (B-B); B-T adds a
//     signature-time-stamp over the signature value as an unsigned
//     attribute (§5.3).
//   - PAdES baseline (ETSI EN 319 142-1): an incremental update with a
//     signature dictionary of SubFilter ETSI.CAdES.detached whose CMS has
//     no signing-time (the time is /M) (B-B); B-T as for CAdES; B-LT
//     appends, in a second incremental update, a Document Security Store
//     with the certificate path, the TSA's path, an OCSP response for the
//     signer's certificate and the CRLs (§5.4).
//   - JAdES baseline (ETSI TS 119 182-1) in JWS JSON serialization (B-B,
//     B-T with sigTst).
//
// Large PDFs are streamed: the input is read through an io.ReaderAt, the
// signed revision spooled to a temporary file for the DSS update, and the
// result written to an io.Writer.
package formats
