package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base32"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// PolicyOID is eidp's certificate policy for residents' signing
// certificates: an OID in the 2.25 arc, which ITU-T X.667 / ISO/IEC 9834-8
// §6.3 assigns to every UUID, so that it needs no registration. It is the
// UUID 4aeb3616-a240-4cd0-ba78-34f6d3d5a73c (generated once, for this
// purpose) written as an integer. Never change it: certificates carry it.
const PolicyOID = "2.25.99584158493191937185329959855847745340"

var policyOID = mustOID(PolicyOID)

func mustOID(s string) x509.OID {
	oid, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return oid
}

// Object identifiers used in the profiles.
var (
	oidCertificatePolicies = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidExtKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidQualifierCPS        = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidKPTimeStamping      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	// OIDOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
	OIDOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	// OIDOCSPNonce is id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
	OIDOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

	oidCountry      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrganization = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCommonName   = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSurname      = asn1.ObjectIdentifier{2, 5, 4, 4}
	oidGivenName    = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// ubCommonName is ub-common-name (RFC 5280 Appendix A.1).
const ubCommonName = 64

// newSerial returns a serial number of 16 bytes, positive, with 126 random
// bits (RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/Browser Forum
// baseline: at least 64 bits from a CSPRNG). The top bits are 01, so the DER
// integer is always exactly 16 octets.
func newSerial() (*big.Int, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("ca: serial number: %w", err)
	}
	b[0] = b[0]&0x3f | 0x40
	return new(big.Int).SetBytes(b[:]), nil
}

// subjectKeyID is RFC 5280 §4.2.1.2 method (1): the SHA-1 of the
// subjectPublicKey BIT STRING.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ca: public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("ca: public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.RightAlign())
	return sum[:], nil
}

// policiesExtension encodes certificatePolicies (RFC 5280 §4.2.1.4) with
// our policy and, if cps is set, a CPS pointer qualifier. It is built by hand
// because the 2.25 arc exceeds what encoding/asn1 can hold and x509 writes no
// qualifiers.
func policiesExtension(cps string) (pkix.Extension, error) {
	oidDER, err := policyOID.MarshalBinary()
	if err != nil {
		return pkix.Extension{}, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certificatePolicies
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PolicyInformation
			b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidDER) })
			if cps == "" {
				return
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // policyQualifiers
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // PolicyQualifierInfo
					b.AddASN1ObjectIdentifier(oidQualifierCPS)
					b.AddASN1(cbasn1.IA5String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(cps)) })
				})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidCertificatePolicies, Value: der}, nil
}

// criticalEKU is an extendedKeyUsage extension marked critical, which
// x509.CreateCertificate does not do by itself (RFC 3161 §2.3 requires it for
// a TSA).
func criticalEKU(purposes ...asn1.ObjectIdentifier) (pkix.Extension, error) {
	der, err := asn1.Marshal(purposes)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidExtKeyUsage, Critical: true, Value: der}, nil
}

// ocspNoCheck is id-pkix-ocsp-nocheck with a NULL value (RFC 6960 §4.2.2.2.1).
var ocspNoCheck = pkix.Extension{Id: OIDOCSPNoCheck, Value: []byte{0x05, 0x00}}

// attr is one attribute of a distinguished name. DirectoryString values are
// UTF8String (RFC 5280 §4.1.2.4); countryName and serialNumber are
// PrintableString (X.520).
type attr struct {
	oid       asn1.ObjectIdentifier
	value     string
	printable bool
}

// rawName encodes a distinguished name with one attribute per RDN, in order.
func rawName(attrs ...attr) ([]byte, error) {
	var rdns pkix.RDNSequence
	for _, a := range attrs {
		tag := asn1.TagUTF8String
		if a.printable {
			tag = asn1.TagPrintableString
		}
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{
			Type:  a.oid,
			Value: asn1.RawValue{Tag: tag, Bytes: []byte(a.value)},
		}})
	}
	return asn1.Marshal(rdns)
}

// caName is the subject of a certificate of the CA itself.
func (a *Authority) caName(cn string) ([]byte, error) {
	return rawName(
		attr{oidCountry, a.cfg.Country, true},
		attr{oidOrganization, a.cfg.Organization, false},
		attr{oidCommonName, a.cfg.Organization + " " + cn, false},
	)
}

// residentName is the subject of a natural person, ETSI EN 319 412-2 §4.2.4
// (and EN 319 412-1 §5.1.3 for serialNumber): countryName, givenName,
// surname, serialNumber (our pseudonym, never an identity-document number)
// and commonName "Given FAMILY". No organizationName: the subject is not
// associated with an organisation.
func (a *Authority) residentName(given, family, pseudonym string) ([]byte, error) {
	return rawName(
		attr{oidCountry, a.cfg.Country, true},
		attr{oidGivenName, given, false},
		attr{oidSurname, family, false},
		attr{oidSerialNumber, pseudonym, true},
		attr{oidCommonName, commonName(given, family), false},
	)
}

// commonName is "Given FAMILY", the family name in capitals as on Hong Kong
// identity documents.
func commonName(given, family string) string { return given + " " + strings.ToUpper(family) }

// checkName accepts a non-empty, trimmed UTF-8 name without control
// characters, short enough for a commonName.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%s has leading or trailing spaces", what)
	case utf8.RuneCountInString(s) > ubCommonName:
		return fmt.Errorf("%s is longer than %d characters", what, ubCommonName)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s contains a control character", what)
		}
	}
	return nil
}

func isIA5(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// newPseudonym is the subject serialNumber of a resident: "PSN", the
// country, "-" and 20 base32 characters (100 random bits). ETSI EN 319 412-1
// §5.1.3 lists PAS, IDC, PNO and TIN as identity types; a pseudonym that
// links a resident's certificates without revealing any document number is
// none of these, hence our own "PSN" prefix.
func (a *Authority) newPseudonym() (string, error) {
	var b [13]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ca: pseudonym: %w", err)
	}
	return "PSN" + a.cfg.Country + "-" + base32.StdEncoding.EncodeToString(b[:])[:20], nil
}

// template is what every certificate of ours shares.
func baseTemplate(serial *big.Int, subject []byte, pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		RawSubject:   subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		SubjectKeyId: ski,
	}, nil
}

// rootTemplate: RFC 5280 §4.2.1.9 basicConstraints cA with pathLen 1 (the
// issuing CA below it), keyCertSign and cRLSign.
func (a *Authority) rootTemplate(serial *big.Int, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	name, err := a.caName("Root CA")
	if err != nil {
		return nil, err
	}
	t, err := baseTemplate(serial, name, pub, now, now.Add(rootValidity))
	if err != nil {
		return nil, err
	}
	t.BasicConstraintsValid, t.IsCA, t.MaxPathLen = true, true, 1
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	return t, nil
}

// issuingTemplate: the "Residents" CA, pathLen 0, pointing at the root's
// certificate and CRL.
func (a *Authority) issuingTemplate(serial *big.Int, pub crypto.PublicKey, now, limit time.Time) (*x509.Certificate, error) {
	name, err := a.caName("Residents CA")
	if err != nil {
		return nil, err
	}
	t, err := baseTemplate(serial, name, pub, now, minTime(now.Add(issuingValidity), limit))
	if err != nil {
		return nil, err
	}
	t.BasicConstraintsValid, t.IsCA, t.MaxPathLen, t.MaxPathLenZero = true, true, 0, true
	t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	t.IssuingCertificateURL = []string{a.url(PathRootCert)}
	t.CRLDistributionPoints = []string{a.url(PathRootCRL)}
	pol, err := policiesExtension(a.cfg.CPSURI)
	if err != nil {
		return nil, err
	}
	t.ExtraExtensions = []pkix.Extension{pol}
	return t, nil
}

// endEntity fills what certificates issued by the issuing CA share: not a
// CA, AIA (OCSP and caIssuers, RFC 5280 §4.2.2.1) and the CRL distribution
// point.
func (a *Authority) endEntity(t *x509.Certificate) {
	t.BasicConstraintsValid = true
	t.IssuingCertificateURL = []string{a.url(PathIssuingCert)}
	t.OCSPServer = []string{a.url(PathOCSP)}
	t.CRLDistributionPoints = []string{a.url(PathIssuingCRL)}
}

// tsaTemplate: RFC 3161 §2.3, the only extended key usage is timeStamping,
// critical; keyUsage digitalSignature.
func (a *Authority) tsaTemplate(serial *big.Int, pub crypto.PublicKey, now, limit time.Time) (*x509.Certificate, error) {
	name, err := a.caName("Time-Stamping Authority")
	if err != nil {
		return nil, err
	}
	t, err := baseTemplate(serial, name, pub, now, minTime(now.Add(tsaValidity), limit))
	if err != nil {
		return nil, err
	}
	a.endEntity(t)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	eku, err := criticalEKU(oidKPTimeStamping)
	if err != nil {
		return nil, err
	}
	t.ExtraExtensions = []pkix.Extension{eku}
	return t, nil
}

// ocspTemplate: a delegated OCSP responder (RFC 6960 §4.2.2.2), EKU
// OCSPSigning and id-pkix-ocsp-nocheck, so clients do not ask about the
// responder itself; short-lived (a year) because of that.
func (a *Authority) ocspTemplate(serial *big.Int, pub crypto.PublicKey, now, limit time.Time) (*x509.Certificate, error) {
	name, err := a.caName("OCSP Responder")
	if err != nil {
		return nil, err
	}
	t, err := baseTemplate(serial, name, pub, now, minTime(now.Add(ocspCertValidity), limit))
	if err != nil {
		return nil, err
	}
	t.BasicConstraintsValid = true
	t.IssuingCertificateURL = []string{a.url(PathIssuingCert)}
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	t.ExtraExtensions = []pkix.Extension{ocspNoCheck}
	return t, nil
}

// residentTemplate: ETSI EN 319 412-2 natural person. keyUsage
// digitalSignature and contentCommitment (non-repudiation), critical (§4.3.2);
// no extended key usage; our certificate policy (§4.3.3); AIA with OCSP and
// caIssuers (§4.4.1); CRL distribution point (§4.3.11).
func (a *Authority) residentTemplate(serial *big.Int, subject []byte, pub crypto.PublicKey, now, limit time.Time) (*x509.Certificate, error) {
	t, err := baseTemplate(serial, subject, pub, now, minTime(now.Add(a.cfg.ResidentValidity), limit))
	if err != nil {
		return nil, err
	}
	a.endEntity(t)
	t.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	pol, err := policiesExtension(a.cfg.CPSURI)
	if err != nil {
		return nil, err
	}
	t.ExtraExtensions = []pkix.Extension{pol}
	return t, nil
}

func minTime(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}
