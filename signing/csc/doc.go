// Package csc is eidp's remote signing service API after the Cloud
// Signature Consortium API v2 (CSC API v2.0.0.2): info,
// credentials/list, credentials/info, credentials/authorize,
// signatures/signHash, signatures/signDoc and signatures/timestamp, under
// /csc/v2/, with JSON requests and responses and the specification's error
// shape ({"error": …, "error_description": …}).
//
// # Service authorisation
//
// Access tokens come from eidp's own OpenID Provider. A service that has
// logged the resident in with scope "service" lists and inspects the
// resident's credentials (their signing certificates; a credential ID is the
// certificate's ID) — the token is user-specific, so userID is not used.
//
// # Credential authorisation (signature activation)
//
// Two routes, one approval. Either way the resident approves on eidp's
// approval page with a passkey assertion that commits to the credential,
// the hash algorithm and every digest (package signing/activation); nothing
// is signed before that.
//
//   - OAuth route (CSC §8.4.2, auth mode "oauth2code"): the service sends
//     the resident to the authorization endpoint with scope=credential and
//     credentialID/hashes/hashAlgorithmOID, or with RFC 9396
//     authorization_details of type "credential" (documentDigests with
//     labels). After approval the code's access token is the signature
//     activation data: signHash/signDoc take it as the bearer token and no
//     SAD parameter.
//   - Explicit route (credentials/authorize): the service, with its
//     "service" token, posts the credential and the hashes; the answer has
//     the SAD and, as extension members, approvalURI and verificationCode.
//     The SAD becomes usable once the resident approved at approvalURI;
//     until then signHash answers 400 with error "authorization_pending"
//     (an extension: CSC defines no decoupled mode; the name is RFC 8628's).
//
// Activation data is single-use, short-lived (5 minutes after approval) and
// good only for the approved digests with that credential and algorithm.
//
// # Formats
//
// signHash returns raw signature values (ECDSA as DER Ecdsa-Sig-Value).
// signDoc builds CAdES (signature_format "C", detached), PAdES ("P") and
// JAdES ("J", JSON serialization) at conformance levels Ades-B-B, Ades-B-T
// and, for PAdES, Ades-B-LT (DSS dictionary); the document's SHA-256 (or
// the approved algorithm's digest) must be one of the approved digests.
// signatures/timestamp answers with an RFC 3161 token of eidp's TSA.
package csc
