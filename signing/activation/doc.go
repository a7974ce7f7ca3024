// Package activation holds signing requests and their signature activation
// data (SAD): the sole-control link between a resident's approval and the
// signatures the HSM then makes.
//
// A service asks a resident to sign documents, named by label and digest,
// with one of the resident's certificates (the CSC "credential"). The
// resident sees the request — who asks, the labels and a short verification
// code that the service shows too — and approves it with a user-verified
// passkey assertion whose challenge is Challenge(request):
//
//	SHA-256( "eidp-signature-activation-v1" ||
//	         len || credentialID || len || hashAlgorithmOID ||
//	         count || (len || digest)… || len || nonce )
//
// (lengths and the count as 4-byte big-endian integers; the nonce is 32
// random bytes chosen by the server per request). The authenticator's
// signature thus commits to exactly these digests; the assertion (client
// data, authenticator data, signature, the credential's public key) is kept
// as evidence with the request and copied to every signature record.
//
// Approval yields signature activation data, single-use and short-lived
// (five minutes by default), bound to the credential, the hash algorithm and
// the approved digests: on the explicit route (CSC credentials/authorize) an
// opaque SAD held here only as its SHA-256; on the OAuth route
// (scope=credential) the access token of the grant the request was bound to.
// Activate consumes it: every hash presented must be one of the approved
// digests, and a second use fails. Nothing is signed without it.
//
// The verification code is six digits derived from the hash algorithm and
// the digests (VerificationCode), so that a service on either route can
// compute and show the same code without asking us.
//
// This is shaped after the signature activation protocol of CEN EN 419 241-1
// (SCAL2: the signer's authorisation is bound to the data to be signed and
// verified by the server before the key is used), with a passkey as the
// signer's authentication factor. It is not a certified remote QSCD (EN 419
// 241-2 / EN 419 221-5) and eidp makes no such claim.
package activation
