package cms

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Content types and attribute types.
var (
	// RFC 5652 §4, §5.1.
	OIDData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	// RFC 3161 §2.4.2: id-ct-TSTInfo.
	OIDTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

	// RFC 5652 §11.1–11.3.
	OIDContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	// RFC 2634 §5.4 (ESS signing-certificate, SHA-1 only); read, never written.
	OIDSigningCertificate = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	// RFC 5035 §3: id-aa-signingCertificateV2.
	OIDSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	// RFC 3161 Appendix A: id-aa-signatureTimeStampToken.
	OIDTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
)

// Algorithm identifiers.
var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}

	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
)

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	// ErrMalformed: the input is not DER CMS of the expected shape.
	ErrMalformed = errors.New("cms: malformed")
	// ErrUnsupportedAlgorithm: a digest or signature algorithm we do not accept.
	ErrUnsupportedAlgorithm = errors.New("cms: unsupported algorithm")
	// ErrInvalidSignature: a digest, attribute or signature does not verify.
	ErrInvalidSignature = errors.New("cms: invalid signature")
	// ErrOptions: SignDigest was called with unusable options.
	ErrOptions = errors.New("cms: invalid signing options")
	// ErrSigner: the signer failed or returned a signature that does not
	// verify with the certificate's key.
	ErrSigner = errors.New("cms: signer failed")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// HashOID returns the digest algorithm identifier of h (RFC 5754 §2), or nil
// for a hash this package does not use (anything but SHA-256/384/512).
func HashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return nil
}

// HashFromOID maps a digest algorithm identifier to its hash. Only SHA-256,
// SHA-384 and SHA-512 are accepted; SHA-1 and others give an error wrapping
// ErrUnsupportedAlgorithm.
func HashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	case oid.Equal(oidSHA1):
		return 0, fmt.Errorf("%w: SHA-1 (%s) is too weak", ErrUnsupportedAlgorithm, oid)
	}
	return 0, fmt.Errorf("%w: digest algorithm %s", ErrUnsupportedAlgorithm, oid)
}

// algorithmIdentifier is a parsed AlgorithmIdentifier (RFC 5280 §4.1.1.2).
type algorithmIdentifier struct {
	OID    asn1.ObjectIdentifier
	Params []byte // the parameters element, nil when absent
}

func readAlgorithmIdentifier(s *cryptobyte.String) (algorithmIdentifier, error) {
	var seq cryptobyte.String
	var a algorithmIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.OID) {
		return a, malformed("algorithm identifier")
	}
	if !seq.Empty() {
		var params cryptobyte.String
		if !seq.ReadAnyASN1Element(&params, nil) || !seq.Empty() {
			return a, malformed("algorithm identifier %s: parameters", a.OID)
		}
		a.Params = params
	}
	return a, nil
}

// nullParams reports whether parameters are absent or NULL, the two forms
// RFC 5754 §2 requires readers of SHA-2 identifiers to accept.
func (a algorithmIdentifier) absentOrNull() bool {
	return a.Params == nil || (len(a.Params) == 2 && a.Params[0] == 0x05 && a.Params[1] == 0)
}

// digestAlgorithm parses a DigestAlgorithmIdentifier.
func (a algorithmIdentifier) digest() (crypto.Hash, error) {
	h, err := HashFromOID(a.OID)
	if err != nil {
		return 0, err
	}
	if !a.absentOrNull() {
		return 0, malformed("digest algorithm %s has parameters", a.OID)
	}
	return h, nil
}

// addDigestAlgorithm writes a SHA-2 AlgorithmIdentifier with absent
// parameters (RFC 5754 §2: "implementations MUST generate ... absent").
func addDigestAlgorithm(b *cryptobyte.Builder, h crypto.Hash) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(HashOID(h))
	})
}

// addDigestAlgorithmNULL writes a SHA-2 AlgorithmIdentifier with NULL
// parameters, the form used inside RSASSA-PSS-params (as Go's crypto/x509 does).
func addDigestAlgorithmNULL(b *cryptobyte.Builder, h crypto.Hash) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(HashOID(h))
		b.AddASN1NULL()
	})
}

// signatureAlgorithm returns the x509.SignatureAlgorithm for a
// signatureAlgorithm identifier of a SignerInfo whose digestAlgorithm is
// digest. RFC 5652 §5.3 allows rsaEncryption, where the hash is the digest
// algorithm's; for the others the hash named by the identifier must equal
// the digest algorithm (RFC 5753 §7.2, RFC 4056 §2).
func signatureAlgorithm(a algorithmIdentifier, digest crypto.Hash) (x509.SignatureAlgorithm, error) {
	var alg x509.SignatureAlgorithm
	var h crypto.Hash
	switch {
	case a.OID.Equal(oidECDSAWithSHA256):
		alg, h = x509.ECDSAWithSHA256, crypto.SHA256
	case a.OID.Equal(oidECDSAWithSHA384):
		alg, h = x509.ECDSAWithSHA384, crypto.SHA384
	case a.OID.Equal(oidECDSAWithSHA512):
		alg, h = x509.ECDSAWithSHA512, crypto.SHA512
	case a.OID.Equal(oidSHA256WithRSA):
		alg, h = x509.SHA256WithRSA, crypto.SHA256
	case a.OID.Equal(oidSHA384WithRSA):
		alg, h = x509.SHA384WithRSA, crypto.SHA384
	case a.OID.Equal(oidSHA512WithRSA):
		alg, h = x509.SHA512WithRSA, crypto.SHA512
	case a.OID.Equal(oidRSAEncryption):
		h = digest
		alg = map[crypto.Hash]x509.SignatureAlgorithm{
			crypto.SHA256: x509.SHA256WithRSA, crypto.SHA384: x509.SHA384WithRSA, crypto.SHA512: x509.SHA512WithRSA,
		}[digest]
	case a.OID.Equal(oidRSASSAPSS):
		ph, err := parsePSSParams(a.Params)
		if err != nil {
			return 0, err
		}
		h = ph
		alg = map[crypto.Hash]x509.SignatureAlgorithm{
			crypto.SHA256: x509.SHA256WithRSAPSS, crypto.SHA384: x509.SHA384WithRSAPSS, crypto.SHA512: x509.SHA512WithRSAPSS,
		}[ph]
	default:
		return 0, fmt.Errorf("%w: signature algorithm %s", ErrUnsupportedAlgorithm, a.OID)
	}
	if h != digest || alg == x509.UnknownSignatureAlgorithm {
		return 0, fmt.Errorf("%w: signature algorithm %s with digest algorithm %v", ErrUnsupportedAlgorithm, a.OID, digest)
	}
	if a.OID.Equal(oidRSASSAPSS) {
		return alg, nil
	}
	// RFC 5758 §3.2: ecdsa-with-SHA* has absent parameters; RFC 4055 §5:
	// sha*WithRSAEncryption has NULL (absent is accepted, as most readers do).
	if a.OID.Equal(oidECDSAWithSHA256) || a.OID.Equal(oidECDSAWithSHA384) || a.OID.Equal(oidECDSAWithSHA512) {
		if a.Params != nil {
			return 0, malformed("signature algorithm %s has parameters", a.OID)
		}
	} else if !a.absentOrNull() {
		return 0, malformed("signature algorithm %s has parameters", a.OID)
	}
	return alg, nil
}

// parsePSSParams reads RSASSA-PSS-params (RFC 4055 §3.1) and accepts only
// what we verify: SHA-2 hash, MGF1 with the same hash, salt length equal to
// the hash length, trailer field 1.
func parsePSSParams(params []byte) (crypto.Hash, error) {
	s := cryptobyte.String(params)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return 0, malformed("RSASSA-PSS parameters")
	}
	var hashField, mgfField cryptobyte.String
	var hasHash, hasMGF bool
	if !seq.ReadOptionalASN1(&hashField, &hasHash, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!seq.ReadOptionalASN1(&mgfField, &hasMGF, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return 0, malformed("RSASSA-PSS parameters")
	}
	var salt, trailer int64
	var saltField, trailerField cryptobyte.String
	var hasSalt, hasTrailer bool
	if !seq.ReadOptionalASN1(&saltField, &hasSalt, cbasn1.Tag(2).Constructed().ContextSpecific()) ||
		!seq.ReadOptionalASN1(&trailerField, &hasTrailer, cbasn1.Tag(3).Constructed().ContextSpecific()) || !seq.Empty() {
		return 0, malformed("RSASSA-PSS parameters")
	}
	if !hasHash || !hasMGF || !hasSalt {
		// The defaults are SHA-1, MGF1-SHA-1, salt 20: not accepted.
		return 0, fmt.Errorf("%w: RSASSA-PSS with SHA-1 defaults", ErrUnsupportedAlgorithm)
	}
	hashAlg, err := readAlgorithmIdentifier(&hashField)
	if err != nil || !hashField.Empty() {
		return 0, malformed("RSASSA-PSS hash algorithm")
	}
	h, err := hashAlg.digest()
	if err != nil {
		return 0, err
	}
	mgfAlg, err := readAlgorithmIdentifier(&mgfField)
	if err != nil || !mgfField.Empty() || !mgfAlg.OID.Equal(oidMGF1) {
		return 0, fmt.Errorf("%w: RSASSA-PSS mask generation function", ErrUnsupportedAlgorithm)
	}
	mgfParams := cryptobyte.String(mgfAlg.Params)
	mgfHash, err := readAlgorithmIdentifier(&mgfParams)
	if err != nil || !mgfParams.Empty() {
		return 0, malformed("RSASSA-PSS MGF1 hash")
	}
	if mh, err := mgfHash.digest(); err != nil || mh != h {
		return 0, fmt.Errorf("%w: RSASSA-PSS with MGF1 hash different from the message hash", ErrUnsupportedAlgorithm)
	}
	if !saltField.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !saltField.Empty() || salt != int64(h.Size()) {
		return 0, fmt.Errorf("%w: RSASSA-PSS salt length must equal the hash length (%d)", ErrUnsupportedAlgorithm, h.Size())
	}
	if hasTrailer {
		if !trailerField.ReadASN1Int64WithTag(&trailer, cbasn1.INTEGER) || !trailerField.Empty() || trailer != 1 {
			return 0, fmt.Errorf("%w: RSASSA-PSS trailer field", ErrUnsupportedAlgorithm)
		}
	}
	return h, nil
}

// addSignatureAlgorithm writes the signatureAlgorithm identifier for alg.
func addSignatureAlgorithm(b *cryptobyte.Builder, alg x509.SignatureAlgorithm) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		switch alg {
		case x509.ECDSAWithSHA256:
			b.AddASN1ObjectIdentifier(oidECDSAWithSHA256)
		case x509.ECDSAWithSHA384:
			b.AddASN1ObjectIdentifier(oidECDSAWithSHA384)
		case x509.ECDSAWithSHA512:
			b.AddASN1ObjectIdentifier(oidECDSAWithSHA512)
		case x509.SHA256WithRSA:
			b.AddASN1ObjectIdentifier(oidSHA256WithRSA)
			b.AddASN1NULL()
		case x509.SHA384WithRSA:
			b.AddASN1ObjectIdentifier(oidSHA384WithRSA)
			b.AddASN1NULL()
		case x509.SHA512WithRSA:
			b.AddASN1ObjectIdentifier(oidSHA512WithRSA)
			b.AddASN1NULL()
		case x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
			h := hashOfSignatureAlgorithm(alg)
			b.AddASN1ObjectIdentifier(oidRSASSAPSS)
			// RFC 4055 §3.1; trailerField keeps its DEFAULT and is omitted.
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					addDigestAlgorithmNULL(b, h)
				})
				b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidMGF1)
						addDigestAlgorithmNULL(b, h)
					})
				})
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(h.Size()))
				})
			})
		default:
			b.SetError(fmt.Errorf("%w: %v", ErrUnsupportedAlgorithm, alg))
		}
	})
}

func hashOfSignatureAlgorithm(alg x509.SignatureAlgorithm) crypto.Hash {
	switch alg {
	case x509.ECDSAWithSHA256, x509.SHA256WithRSA, x509.SHA256WithRSAPSS:
		return crypto.SHA256
	case x509.ECDSAWithSHA384, x509.SHA384WithRSA, x509.SHA384WithRSAPSS:
		return crypto.SHA384
	case x509.ECDSAWithSHA512, x509.SHA512WithRSA, x509.SHA512WithRSAPSS:
		return crypto.SHA512
	}
	return 0
}
