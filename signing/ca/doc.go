// Package ca is eidp's certification authority for remote signing: it
// certifies residents' signing keys, and publishes what relying parties need
// to check them (certificates, CRLs, OCSP).
//
// # Hierarchy
//
// Init builds, once, a two-level hierarchy after RFC 5280 whose keys live in
// the key backend under the keyring roles ca-root, ca-residents, tsa and ocsp:
//
//   - a self-signed root CA (ECDSA P-384, 20 years, basicConstraints cA
//     pathLen 1, keyUsage keyCertSign and cRLSign);
//   - the issuing CA "Residents" (10 years, pathLen 0, AIA caIssuers and
//     CRL distribution point pointing at the root's certificate and CRL);
//   - a time-stamping certificate issued by it (RFC 3161 §2.3: extended key
//     usage timeStamping only, critical; 5 years);
//   - a delegated OCSP responder certificate (RFC 6960 §4.2.2.2: EKU
//     OCSPSigning and id-pkix-ocsp-nocheck; one year, renewed by Init when
//     less than 30 days are left).
//
// Serial numbers are 16 random octets (126 bits of entropy, positive).
// Residents' certificates and the issuing CA carry one certificate policy of
// ours, PolicyOID, in the UUID arc 2.25 (ITU-T X.667), with an optional CPS
// pointer.
//
// # Residents' certificates
//
// Issue follows ETSI EN 319 412-2 for natural persons: subject countryName,
// givenName, surname, serialNumber and commonName "Given FAMILY" (§4.2.4),
// where serialNumber is a random pseudonym stable per resident, never an
// identity-document number (EN 319 412-1 §5.1.3 describes the attribute);
// keyUsage digitalSignature and contentCommitment, critical (§4.3.2); no
// extended key usage; AIA with OCSP and caIssuers (§4.4.1) and a CRL
// distribution point (§4.3.11). Only residents at assurance level high get
// one, and a resident has one valid certificate at a time: a new one
// supersedes the previous.
//
// The key pair is generated in the key backend and leaves it only wrapped
// under the signing-kek key (hsm.KeyWrapper); the database keeps the wrapped
// blob, the public key and which signing-kek key wrapped it. Signer unwraps
// it inside the backend for each signature.
//
// # Revocation and status
//
// Revoke and RevokeResident take RFC 5280 §5.3.1 reasons (unspecified,
// keyCompromise, affiliationChanged, superseded, cessationOfOperation;
// certificateHold is not used, revocation is final). Revocation erases the
// wrapped key, so the key can never sign again, and keeps the record, which
// has no foreign key to the resident: deleting an account keeps its
// revocations on the CRL and in OCSP.
//
// Each CA's CRL (RFC 5280 §5, with cRLNumber and authorityKeyIdentifier) is
// stored in the database so that every node serves the same bytes; it is
// regenerated after each revocation and when less than half of its validity
// is left. The OCSP responder (RFC 6960, GET and POST, RFC 5019 caching
// headers) answers good, revoked (time and reason) or unknown for the
// certificates of the issuing CA, signed by the delegated responder key with
// its certificate included, and echoes a request nonce (§4.4.1, RFC 8954).
// Handler serves all of it under /pki/.
package ca
