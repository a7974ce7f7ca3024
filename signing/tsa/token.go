package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eidp/signing/cms"
)

// Token is a parsed TimeStampToken: the TSTInfo fields (RFC 3161 §2.4.2)
// and the SignedData around them.
type Token struct {
	GenTime       time.Time
	Policy        x509.OID
	Hash          crypto.Hash
	HashedMessage []byte
	Serial        *big.Int
	Nonce         *big.Int      // nil if absent
	Accuracy      time.Duration // 0 if absent
	Ordering      bool
	SignedData    *cms.SignedData
	// Certificate is the TSA certificate if the token embeds it (certReq).
	Certificate *x509.Certificate
	// TSTInfo is the DER TSTInfo, Raw the whole token.
	TSTInfo []byte
	Raw     []byte
}

// ParseToken reads a TimeStampToken (a DER ContentInfo): a SignedData with
// one SignerInfo over an id-ct-TSTInfo eContent (RFC 3161 §2.4.2). Errors
// wrap ErrMalformed (or cms.ErrMalformed / cms.ErrUnsupportedAlgorithm).
func ParseToken(token []byte) (*Token, error) {
	sd, err := cms.Parse(token)
	if err != nil {
		return nil, fmt.Errorf("tsa: token: %w", err)
	}
	if !sd.ContentType.Equal(cms.OIDTSTInfo) || sd.Content == nil {
		return nil, fmt.Errorf("%w: token content type %s is not id-ct-TSTInfo", ErrMalformed, sd.ContentType)
	}
	if len(sd.Signers) != 1 {
		// §2.4.2: "The time-stamp token MUST NOT contain any signatures other than the signature of the TSA."
		return nil, fmt.Errorf("%w: token has %d signers, want 1", ErrMalformed, len(sd.Signers))
	}
	t := &Token{SignedData: sd, Certificate: sd.Signers[0].Certificate, TSTInfo: sd.Content, Raw: token}
	if err := t.parseTSTInfo(sd.Content); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Token) parseTSTInfo(der []byte) error {
	bad := func(field string) error { return fmt.Errorf("%w: TSTInfo %s", ErrMalformed, field) }
	s := cryptobyte.String(der)
	var seq, imprint, genTime cryptobyte.String
	var version int64
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return bad("is not one DER SEQUENCE")
	}
	if !seq.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 1 {
		return bad("version")
	}
	if !readOID(&seq, &t.Policy) {
		return bad("policy")
	}
	if !seq.ReadASN1(&imprint, cbasn1.SEQUENCE) {
		return bad("messageImprint")
	}
	var alg, algBody cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !imprint.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return bad("messageImprint hashAlgorithm")
	}
	algBody = alg
	if !algBody.Empty() && !(len(algBody) == 2 && algBody[0] == 0x05 && algBody[1] == 0) {
		return bad("messageImprint hashAlgorithm parameters")
	}
	h, err := cms.HashFromOID(oid)
	if err != nil {
		return fmt.Errorf("tsa: token imprint: %w", err)
	}
	t.Hash = h
	if !imprint.ReadASN1Bytes(&t.HashedMessage, cbasn1.OCTET_STRING) || !imprint.Empty() || len(t.HashedMessage) != h.Size() {
		return bad("messageImprint hashedMessage")
	}
	t.Serial = new(big.Int)
	if !seq.ReadASN1Integer(t.Serial) {
		return bad("serialNumber")
	}
	if !seq.ReadASN1(&genTime, cbasn1.GeneralizedTime) {
		return bad("genTime")
	}
	if t.GenTime, err = parseGenTime(string(genTime)); err != nil {
		return err
	}
	if seq.PeekASN1Tag(cbasn1.SEQUENCE) {
		var acc cryptobyte.String
		var secs, millis, micros int64
		optional := func(out *int64, tag cbasn1.Tag) bool {
			return !acc.PeekASN1Tag(tag) || acc.ReadASN1Int64WithTag(out, tag)
		}
		if !seq.ReadASN1(&acc, cbasn1.SEQUENCE) || !optional(&secs, cbasn1.INTEGER) ||
			!optional(&millis, cbasn1.Tag(0).ContextSpecific()) || !optional(&micros, cbasn1.Tag(1).ContextSpecific()) ||
			!acc.Empty() || secs < 0 || secs > 1<<31 || millis < 0 || millis > 999 || micros < 0 || micros > 999 {
			return bad("accuracy")
		}
		t.Accuracy = time.Duration(secs)*time.Second + time.Duration(millis)*time.Millisecond + time.Duration(micros)*time.Microsecond
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) && !seq.ReadASN1Boolean(&t.Ordering) {
		return bad("ordering")
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		t.Nonce = new(big.Int)
		if !seq.ReadASN1Integer(t.Nonce) {
			return bad("nonce")
		}
	}
	// tsa [0] GeneralName and extensions [1] are allowed and not used.
	if !seq.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!seq.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) || !seq.Empty() {
		return bad("trailing fields")
	}
	return nil
}

// Verify checks the token (RFC 3161 §2.4.2, RFC 5816): the imprint is
// (hash, digest); the CMS signature, content-type and message-digest verify
// (cms.SignedData.Verify); an ESS signing-certificate(-v2) attribute names the
// embedded TSA certificate; that certificate has the critical
// id-kp-timeStamping extended key usage only; and it chains to roots
// through intermediates (plus certificates in the token) at GenTime.
// Revocation is the caller's.
func (t *Token) Verify(hash crypto.Hash, digest []byte, roots, intermediates *x509.CertPool) error {
	if t.Hash != hash || !bytes.Equal(t.HashedMessage, digest) {
		return fmt.Errorf("%w: the message imprint is not the %v digest given", ErrVerify, hash)
	}
	if t.Certificate == nil {
		return fmt.Errorf("%w: the token does not carry the TSA certificate (request it with certReq)", ErrVerify)
	}
	if err := CheckCertificate(t.Certificate); err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if err := t.SignedData.Verify(nil); err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	si := t.SignedData.Signers[0]
	if !si.SigningCertV2 && !si.SigningCertV1 {
		return fmt.Errorf("%w: no ESS signing-certificate attribute (RFC 3161 §2.4.1, RFC 5816)", ErrVerify)
	}
	if roots == nil {
		return fmt.Errorf("%w: no trusted roots given", ErrVerify)
	}
	pool := x509.NewCertPool()
	if intermediates != nil {
		pool = intermediates.Clone()
	}
	for _, c := range t.SignedData.Certificates {
		pool.AddCert(c)
	}
	_, err := t.Certificate.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: pool, CurrentTime: t.GenTime,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return fmt.Errorf("%w: TSA certificate: %w", ErrVerify, err)
	}
	return nil
}

// IsRequestError reports whether err is a refused request and which
// PKIFailureInfo applies.
func IsRequestError(err error) (FailureInfo, bool) {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Fail, true
	}
	return 0, false
}
