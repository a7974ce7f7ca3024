package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// MaxSize bounds the DER Parse accepts (a PAdES /Contents is usually a few
// tens of KiB; an enveloping CAdES signature holds its document).
const MaxSize = 64 << 20

// SignedData is a parsed ContentInfo of type signed-data (RFC 5652 §5.1).
type SignedData struct {
	Version          int
	DigestAlgorithms []crypto.Hash
	// ContentType is the eContentType.
	ContentType asn1.ObjectIdentifier
	// Content is the encapsulated content, nil if the signature is detached.
	Content []byte
	// Certificates are the X.509 certificates embedded (other certificate
	// choices are skipped).
	Certificates []*x509.Certificate
	// CRLs are the RevocationInfoChoice elements as DER.
	CRLs    [][]byte
	Signers []SignerInfo
	// Raw is the whole ContentInfo DER.
	Raw []byte

	parts signedDataParts
}

// SignerInfo is a parsed SignerInfo (RFC 5652 §5.3).
type SignerInfo struct {
	Version int
	// Issuer (raw DER Name) and SerialNumber identify the signer certificate
	// when the sid is issuerAndSerialNumber; SubjectKeyID when it is
	// subjectKeyIdentifier.
	Issuer       []byte
	SerialNumber *big.Int
	SubjectKeyID []byte
	// Certificate is the embedded certificate the sid names, nil if none.
	Certificate        *x509.Certificate
	DigestAlgorithm    crypto.Hash
	SignatureAlgorithm x509.SignatureAlgorithm
	Signature          []byte
	// Values of the signed attributes of RFC 5652 §11.
	MessageDigest []byte
	ContentType   asn1.ObjectIdentifier
	SigningTime   time.Time // zero if absent
	// SigningCertV2 reports a signing-certificate-v2 attribute (RFC 5035)
	// whose first ESSCertIDv2 matches Certificate.
	SigningCertV2 bool
	// SigningCertV1 reports a signing-certificate attribute (RFC 2634, SHA-1)
	// whose first ESSCertID matches Certificate (older time-stamp tokens).
	SigningCertV1 bool
	// Timestamp is the first signature-time-stamp token (a ContentInfo DER),
	// nil if none.
	Timestamp          []byte
	SignedAttributes   []Attribute
	UnsignedAttributes []Attribute
	// RawSignedAttributes is the DER SET OF signed attributes the signature
	// covers (RFC 5652 §5.4: the [0] IMPLICIT tag replaced by SET), nil if
	// the SignerInfo has none.
	RawSignedAttributes []byte
	// Raw is the SignerInfo DER.
	Raw []byte

	// essErr says why a present signing-certificate(-v2) attribute does not
	// name Certificate.
	essErr error
	// beforeUnsigned is the SignerInfo content up to the signature value.
	beforeUnsigned []byte
	unsignedElems  [][]byte
}

// Parse reads a DER ContentInfo holding a SignedData. It is strict: DER
// only (BER indefinite lengths are refused), no trailing data, the
// attributes RFC 5652 §5.3 and §11 require present once. Errors wrap
// ErrMalformed or, for SHA-1 and unknown algorithms, ErrUnsupportedAlgorithm.
func Parse(der []byte) (*SignedData, error) {
	if len(der) > MaxSize {
		return nil, malformed("%d bytes, more than the %d accepted", len(der), MaxSize)
	}
	if len(der) >= 2 && der[1] == 0x80 {
		return nil, malformed("BER indefinite length: DER is required")
	}
	s := cryptobyte.String(der)
	var ci, inner, sdSeq cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) {
		return nil, malformed("not a DER ContentInfo (BER, truncated or not CMS)")
	}
	if !s.Empty() {
		return nil, malformed("trailing data after ContentInfo")
	}
	if !ci.ReadASN1ObjectIdentifier(&ct) {
		return nil, malformed("ContentInfo content type")
	}
	if !ct.Equal(OIDSignedData) {
		return nil, malformed("content type %s is not signed-data", ct)
	}
	if !ci.ReadASN1(&inner, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() ||
		!inner.ReadASN1(&sdSeq, cbasn1.SEQUENCE) || !inner.Empty() {
		return nil, malformed("ContentInfo content is not one SignedData (or uses BER)")
	}
	sd := &SignedData{Raw: der}
	if err := sd.parseSignedData(sdSeq); err != nil {
		return nil, err
	}
	return sd, nil
}

func (sd *SignedData) parseSignedData(s cryptobyte.String) error {
	var version int64
	if !s.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) {
		return malformed("SignedData version")
	}
	// RFC 5652 §5.1: versions 1, 3, 4 and 5 exist.
	if version != 1 && version != 3 && version != 4 && version != 5 {
		return malformed("SignedData version %d", version)
	}
	sd.Version = int(version)
	sd.parts.version = version

	var digestsEl, digests cryptobyte.String
	if !s.ReadASN1Element(&digestsEl, cbasn1.SET) {
		return malformed("SignedData digestAlgorithms")
	}
	sd.parts.rawDigests = digestsEl
	digests = digestsEl[headerLen(digestsEl):]
	for !digests.Empty() {
		a, err := readAlgorithmIdentifier(&digests)
		if err != nil {
			return fmt.Errorf("digestAlgorithms: %w", err)
		}
		h, err := a.digest()
		if err != nil {
			return fmt.Errorf("digestAlgorithms: %w", err)
		}
		sd.DigestAlgorithms = append(sd.DigestAlgorithms, h)
	}

	var encap cryptobyte.String
	if !s.ReadASN1(&encap, cbasn1.SEQUENCE) || !encap.ReadASN1ObjectIdentifier(&sd.ContentType) {
		return malformed("encapContentInfo")
	}
	sd.parts.contentType = sd.ContentType
	if !encap.Empty() {
		var explicit, content cryptobyte.String
		if !encap.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) || !encap.Empty() {
			return malformed("encapContentInfo eContent")
		}
		if !explicit.ReadASN1(&content, cbasn1.OCTET_STRING) || !explicit.Empty() {
			return malformed("eContent is not one primitive OCTET STRING (BER constructed strings are refused)")
		}
		sd.Content = append([]byte{}, content...)
		sd.parts.content = sd.Content
	}

	certsTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	if s.PeekASN1Tag(certsTag) {
		var el cryptobyte.String
		if !s.ReadASN1Element(&el, certsTag) {
			return malformed("certificates")
		}
		sd.parts.certsRaw = el
		certs := el[headerLen(el):]
		for !certs.Empty() {
			var c cryptobyte.String
			var tag cbasn1.Tag
			if !certs.ReadAnyASN1Element(&c, &tag) {
				return malformed("certificates")
			}
			if tag != cbasn1.SEQUENCE {
				continue // attribute or other certificate formats (RFC 5652 §10.2.2)
			}
			cert, err := x509.ParseCertificate(c)
			if err != nil {
				return malformed("certificates: %v", err)
			}
			sd.Certificates = append(sd.Certificates, cert)
		}
	}
	crlsTag := cbasn1.Tag(1).Constructed().ContextSpecific()
	if s.PeekASN1Tag(crlsTag) {
		var el cryptobyte.String
		if !s.ReadASN1Element(&el, crlsTag) {
			return malformed("crls")
		}
		sd.parts.crlsRaw = el
		crls := el[headerLen(el):]
		for !crls.Empty() {
			var c cryptobyte.String
			if !crls.ReadAnyASN1Element(&c, nil) {
				return malformed("crls")
			}
			sd.CRLs = append(sd.CRLs, append([]byte{}, c...))
		}
	}

	var signers cryptobyte.String
	if !s.ReadASN1(&signers, cbasn1.SET) {
		return malformed("signerInfos")
	}
	if !s.Empty() {
		return malformed("trailing data in SignedData")
	}
	for i := 0; !signers.Empty(); i++ {
		var el cryptobyte.String
		if !signers.ReadASN1Element(&el, cbasn1.SEQUENCE) {
			return malformed("signerInfos[%d]", i)
		}
		si, err := parseSignerInfo(el)
		if err != nil {
			return fmt.Errorf("signerInfos[%d]: %w", i, err)
		}
		si.Certificate = sd.findCertificate(si)
		if si.Certificate != nil {
			si.checkESS()
		}
		sd.Signers = append(sd.Signers, *si)
		sd.parts.signerInfos = append(sd.parts.signerInfos, el)
	}
	return nil
}

func (sd *SignedData) findCertificate(si *SignerInfo) *x509.Certificate {
	for _, c := range sd.Certificates {
		if si.SerialNumber != nil && c.SerialNumber.Cmp(si.SerialNumber) == 0 && bytes.Equal(c.RawIssuer, si.Issuer) {
			return c
		}
		if si.SubjectKeyID != nil && bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
			return c
		}
	}
	return nil
}

func parseSignerInfo(raw []byte) (*SignerInfo, error) {
	si := &SignerInfo{Raw: append([]byte{}, raw...)}
	s := cryptobyte.String(si.Raw)
	var seq cryptobyte.String
	s.ReadASN1(&seq, cbasn1.SEQUENCE)
	start := len(seq)
	body := seq

	var version int64
	if !seq.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) {
		return nil, malformed("version")
	}
	si.Version = int(version)
	switch {
	case seq.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias cryptobyte.String
		var name cryptobyte.String
		si.SerialNumber = new(big.Int)
		if !seq.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&name, cbasn1.SEQUENCE) ||
			!ias.ReadASN1Integer(si.SerialNumber) || !ias.Empty() {
			return nil, malformed("issuerAndSerialNumber")
		}
		si.Issuer = name
		if version != 1 {
			return nil, malformed("version %d with issuerAndSerialNumber (RFC 5652 §5.3: 1)", version)
		}
	case seq.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		var ski cryptobyte.String
		if !seq.ReadASN1(&ski, cbasn1.Tag(0).ContextSpecific()) {
			return nil, malformed("subjectKeyIdentifier")
		}
		si.SubjectKeyID = ski
		if version != 3 {
			return nil, malformed("version %d with subjectKeyIdentifier (RFC 5652 §5.3: 3)", version)
		}
	default:
		return nil, malformed("signer identifier")
	}

	digestAlg, err := readAlgorithmIdentifier(&seq)
	if err != nil {
		return nil, fmt.Errorf("digestAlgorithm: %w", err)
	}
	if si.DigestAlgorithm, err = digestAlg.digest(); err != nil {
		return nil, fmt.Errorf("digestAlgorithm: %w", err)
	}

	signedTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	if seq.PeekASN1Tag(signedTag) {
		var el cryptobyte.String
		if !seq.ReadASN1Element(&el, signedTag) {
			return nil, malformed("signed attributes")
		}
		// RFC 5652 §5.4: the digest covers the EXPLICIT SET OF encoding.
		si.RawSignedAttributes = append([]byte{byte(cbasn1.SET)}, el[1:]...)
		if si.SignedAttributes, _, err = parseAttributes(el[headerLen(el):]); err != nil {
			return nil, fmt.Errorf("signed attributes: %w", err)
		}
		if err := si.readSignedAttributes(); err != nil {
			return nil, fmt.Errorf("signed attributes: %w", err)
		}
	}

	sigAlg, err := readAlgorithmIdentifier(&seq)
	if err != nil {
		return nil, fmt.Errorf("signatureAlgorithm: %w", err)
	}
	if si.SignatureAlgorithm, err = signatureAlgorithm(sigAlg, si.DigestAlgorithm); err != nil {
		return nil, fmt.Errorf("signatureAlgorithm: %w", err)
	}
	var sig cryptobyte.String
	if !seq.ReadASN1(&sig, cbasn1.OCTET_STRING) {
		return nil, malformed("signature")
	}
	si.Signature = sig
	si.beforeUnsigned = body[:start-len(seq)]

	unsignedTag := cbasn1.Tag(1).Constructed().ContextSpecific()
	if seq.PeekASN1Tag(unsignedTag) {
		var el cryptobyte.String
		if !seq.ReadASN1Element(&el, unsignedTag) {
			return nil, malformed("unsigned attributes")
		}
		if si.UnsignedAttributes, si.unsignedElems, err = parseAttributes(el[headerLen(el):]); err != nil {
			return nil, fmt.Errorf("unsigned attributes: %w", err)
		}
		for _, a := range si.UnsignedAttributes {
			if a.Type.Equal(OIDTimeStampToken) && si.Timestamp == nil {
				if a.Values[0].Tag != asn1.TagSequence || a.Values[0].Class != asn1.ClassUniversal {
					return nil, malformed("signature-time-stamp is not a ContentInfo")
				}
				si.Timestamp = a.Values[0].FullBytes
			}
		}
	}
	if !seq.Empty() {
		return nil, malformed("trailing data in SignerInfo")
	}
	return si, nil
}

// parseAttributes reads the content of a SET OF Attribute, returning each
// attribute and its DER element.
func parseAttributes(s cryptobyte.String) ([]Attribute, [][]byte, error) {
	var attrs []Attribute
	var elems [][]byte
	if s.Empty() {
		return nil, nil, malformed("empty attribute set")
	}
	for !s.Empty() {
		var el, attr, values cryptobyte.String
		var a Attribute
		if !s.ReadASN1Element(&el, cbasn1.SEQUENCE) {
			return nil, nil, malformed("attribute")
		}
		attr = el[headerLen(el):]
		if !attr.ReadASN1ObjectIdentifier(&a.Type) || !attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return nil, nil, malformed("attribute")
		}
		for !values.Empty() {
			var v cryptobyte.String
			if !values.ReadAnyASN1Element(&v, nil) {
				return nil, nil, malformed("attribute %s value", a.Type)
			}
			var rv asn1.RawValue
			if rest, err := asn1.Unmarshal(v, &rv); err != nil || len(rest) != 0 {
				return nil, nil, malformed("attribute %s value", a.Type)
			}
			a.Values = append(a.Values, rv)
		}
		if len(a.Values) == 0 {
			return nil, nil, malformed("attribute %s has no value", a.Type)
		}
		attrs = append(attrs, a)
		elems = append(elems, el)
	}
	return attrs, elems, nil
}

// readSignedAttributes fills the fields of RFC 5652 §11 and checks that the
// single-instance attributes occur once with one value (§11.1–11.3).
func (si *SignerInfo) readSignedAttributes() error {
	seen := map[string]bool{}
	for _, a := range si.SignedAttributes {
		single := a.Type.Equal(OIDContentType) || a.Type.Equal(OIDMessageDigest) || a.Type.Equal(OIDSigningTime) ||
			a.Type.Equal(OIDSigningCertificateV2) || a.Type.Equal(OIDSigningCertificate)
		if !single {
			continue
		}
		if seen[a.Type.String()] {
			return malformed("attribute %s occurs more than once", a.Type)
		}
		seen[a.Type.String()] = true
		if len(a.Values) != 1 {
			return malformed("attribute %s has %d values, want 1", a.Type, len(a.Values))
		}
		v := a.Values[0].FullBytes
		switch {
		case a.Type.Equal(OIDContentType):
			s := cryptobyte.String(v)
			if !s.ReadASN1ObjectIdentifier(&si.ContentType) || !s.Empty() {
				return malformed("content-type attribute")
			}
		case a.Type.Equal(OIDMessageDigest):
			s := cryptobyte.String(v)
			var md cryptobyte.String
			if !s.ReadASN1(&md, cbasn1.OCTET_STRING) || !s.Empty() {
				return malformed("message-digest attribute")
			}
			si.MessageDigest = md
		case a.Type.Equal(OIDSigningTime):
			t, err := parseTime(v)
			if err != nil {
				return fmt.Errorf("signing-time attribute: %w", err)
			}
			si.SigningTime = t
		case a.Type.Equal(OIDSigningCertificateV2), a.Type.Equal(OIDSigningCertificate):
			if _, err := parseESSCertIDs(v, a.Type.Equal(OIDSigningCertificateV2)); err != nil {
				return err
			}
		}
	}
	// RFC 5652 §5.3: with signed attributes, content-type and message-digest MUST be present.
	if si.ContentType == nil || si.MessageDigest == nil {
		return malformed("content-type or message-digest attribute missing")
	}
	return nil
}

// parseTime reads a signing-time value: UTCTime or GeneralizedTime, in UTC
// ("Z"), to the second (RFC 5652 §11.3, RFC 5280 §4.1.2.5).
func parseTime(der []byte) (time.Time, error) {
	s := cryptobyte.String(der)
	var t time.Time
	var ok bool
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		ok = s.ReadASN1UTCTime(&t)
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		ok = s.ReadASN1GeneralizedTime(&t)
	}
	if !ok || !s.Empty() || !strings.HasSuffix(string(der), "Z") {
		return time.Time{}, malformed("time is not a UTCTime or GeneralizedTime in UTC")
	}
	return t.UTC(), nil
}

// essCertID is one ESSCertID (RFC 2634 §5.4.1) or ESSCertIDv2 (RFC 5035 §4).
type essCertID struct {
	hash     crypto.Hash
	certHash []byte
	issuers  [][]byte // directoryName issuers; nil when issuerSerial is absent
	serial   *big.Int
}

// parseESSCertIDs reads SigningCertificate or SigningCertificateV2.
func parseESSCertIDs(der []byte, v2 bool) ([]essCertID, error) {
	name := "signing-certificate"
	if v2 {
		name = "signing-certificate-v2"
	}
	s := cryptobyte.String(der)
	var sc, certs cryptobyte.String
	if !s.ReadASN1(&sc, cbasn1.SEQUENCE) || !s.Empty() || !sc.ReadASN1(&certs, cbasn1.SEQUENCE) {
		return nil, malformed("%s attribute", name)
	}
	// policies (SEQUENCE OF PolicyInformation) may follow; not used.
	if !sc.Empty() && (!sc.SkipASN1(cbasn1.SEQUENCE) || !sc.Empty()) {
		return nil, malformed("%s attribute", name)
	}
	var ids []essCertID
	for !certs.Empty() {
		var c cryptobyte.String
		if !certs.ReadASN1(&c, cbasn1.SEQUENCE) {
			return nil, malformed("%s: ESSCertID", name)
		}
		id := essCertID{hash: crypto.SHA1}
		if v2 {
			id.hash = crypto.SHA256 // DEFAULT {algorithm id-sha256}
			if c.PeekASN1Tag(cbasn1.SEQUENCE) {
				a, err := readAlgorithmIdentifier(&c)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				if id.hash, err = a.digest(); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		var h cryptobyte.String
		if !c.ReadASN1(&h, cbasn1.OCTET_STRING) || len(h) != id.hash.Size() {
			return nil, malformed("%s: certHash", name)
		}
		id.certHash = h
		if !c.Empty() {
			var is, names cryptobyte.String
			id.serial = new(big.Int)
			if !c.ReadASN1(&is, cbasn1.SEQUENCE) || !is.ReadASN1(&names, cbasn1.SEQUENCE) ||
				!is.ReadASN1Integer(id.serial) || !is.Empty() {
				return nil, malformed("%s: issuerSerial", name)
			}
			id.issuers = [][]byte{}
			for !names.Empty() {
				var gn cryptobyte.String
				var tag cbasn1.Tag
				if !names.ReadAnyASN1(&gn, &tag) {
					return nil, malformed("%s: issuerSerial", name)
				}
				if tag == cbasn1.Tag(4).Constructed().ContextSpecific() {
					id.issuers = append(id.issuers, gn)
				}
			}
		}
		if !c.Empty() {
			return nil, malformed("%s: ESSCertID", name)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, malformed("%s names no certificate", name)
	}
	return ids, nil
}

// checkESS sets SigningCertV2/V1 or essErr: RFC 5035 §3 (and RFC 2634
// §5.4): the first certificate identified is the signer's.
func (si *SignerInfo) checkESS() {
	for _, a := range si.SignedAttributes {
		v2 := a.Type.Equal(OIDSigningCertificateV2)
		if !v2 && !a.Type.Equal(OIDSigningCertificate) {
			continue
		}
		ids, err := parseESSCertIDs(a.Values[0].FullBytes, v2)
		if err != nil {
			si.essErr = err
			return
		}
		if err := ids[0].matches(si.Certificate); err != nil {
			name := "signing-certificate"
			if v2 {
				name = "signing-certificate-v2"
			}
			si.essErr = fmt.Errorf("%w: %s attribute: %w", ErrInvalidSignature, name, err)
			return
		}
		if v2 {
			si.SigningCertV2 = true
		} else {
			si.SigningCertV1 = true
		}
	}
}

func (id essCertID) matches(cert *x509.Certificate) error {
	if !bytes.Equal(digest(id.hash, cert.Raw), id.certHash) {
		return fmt.Errorf("certHash is not the %v of the signer certificate", id.hash)
	}
	if id.issuers == nil {
		return nil
	}
	if id.serial.Cmp(cert.SerialNumber) != 0 {
		return fmt.Errorf("issuerSerial serial number is not the signer certificate's")
	}
	for _, n := range id.issuers {
		if bytes.Equal(n, cert.RawIssuer) {
			return nil
		}
	}
	return fmt.Errorf("issuerSerial issuer is not the signer certificate's")
}
