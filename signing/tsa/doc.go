// Package tsa is eidp's Time-Stamp Authority and its client side, after
// RFC 3161 (Time-Stamp Protocol) with the ESSCertIDv2 update of RFC 5816,
// profiled as ETSI EN 319 422 asks (policy, accuracy, ordering false, SHA-2).
//
// Authority issues TimeStampTokens: a CMS SignedData (signing/cms) whose
// eContentType is id-ct-TSTInfo, signed by the TSA key in the HSM with the
// signing-certificate-v2 attribute (RFC 5816 §2.2.1). Respond answers a DER
// TimeStampReq (RFC 3161 §2.4.1) with a TimeStampResp (§2.4.2) — a token, or
// a rejection with the PKIFailureInfo the RFC names — and ServeHTTP speaks the
// HTTP transport of §3.4 (application/timestamp-query → application/timestamp-reply).
//
// The client side (NewRequest, ParseResponse, ParseToken, Token.Verify) is
// what the signing service uses to reach CAdES/PAdES/JAdES level B-T (EN 319
// 122-1 §5.3, EN 319 142-1 §6.3) and what the verifier uses to check tokens:
// the token's signature, the TSA certificate's critical id-kp-timeStamping
// extended key usage (RFC 3161 §2.3), the message imprint, and a chain to the
// roots the caller trusts at the token's genTime.
package tsa
