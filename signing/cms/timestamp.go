package cms

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignatureValue returns the first SignerInfo's signature value: what a
// signature time-stamp is computed over (RFC 3161 Appendix A, EN 319 122-1
// §5.3).
func SignatureValue(signedData []byte) ([]byte, error) {
	sd, err := Parse(signedData)
	if err != nil {
		return nil, err
	}
	if len(sd.Signers) == 0 {
		return nil, malformed("no SignerInfo")
	}
	return sd.Signers[0].Signature, nil
}

// AddSignatureTimestamp adds an unsigned signature-time-stamp attribute
// holding token (a TimeStampToken ContentInfo DER) to the first SignerInfo
// and returns the new DER (CAdES-B-T, EN 319 122-1 §5.3; PAdES-B-T, EN 319
// 142-1 §6.3). The token's message imprint must be the hash of that
// SignerInfo's signature value; the token's own signature and TSA
// certificate are the caller's to check (signing/tsa Token.Verify).
// Everything else is kept byte for byte.
// A token added to a signature that already has one becomes a further
// attribute (EN 319 122-1 allows several).
func AddSignatureTimestamp(signedData []byte, token []byte) ([]byte, error) {
	sd, err := Parse(signedData)
	if err != nil {
		return nil, err
	}
	if len(sd.Signers) == 0 {
		return nil, malformed("no SignerInfo to time-stamp")
	}
	tok, err := Parse(token)
	if err != nil {
		return nil, fmt.Errorf("time-stamp token: %w", err)
	}
	if !tok.ContentType.Equal(OIDTSTInfo) || tok.Content == nil {
		return nil, malformed("time-stamp token: content is not a TSTInfo")
	}
	h, hashed, err := tstImprint(tok.Content)
	if err != nil {
		return nil, fmt.Errorf("time-stamp token: %w", err)
	}
	si := &sd.Signers[0]
	if !bytes.Equal(digest(h, si.Signature), hashed) {
		return nil, fmt.Errorf("%w: the time-stamp token is not over this signature value", ErrInvalidSignature)
	}

	attr, err := encodeAttribute(Attribute{Type: OIDTimeStampToken, Values: []asn1.RawValue{{FullBytes: token}}})
	if err != nil {
		return nil, err
	}
	unsigned, err := encodeSet(cbasn1.Tag(1).Constructed().ContextSpecific(), append(append([][]byte{}, si.unsignedElems...), attr))
	if err != nil {
		return nil, err
	}
	newSigner, err := build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(si.beforeUnsigned)
			b.AddBytes(unsigned)
		})
	})
	if err != nil {
		return nil, err
	}
	parts := sd.parts
	parts.signerInfos = append([][]byte{newSigner}, parts.signerInfos[1:]...)
	return encodeSignedData(parts)
}

// tstImprint reads the messageImprint of a TSTInfo (RFC 3161 §2.4.2): the
// first fields are version, policy and messageImprint.
func tstImprint(tstInfo []byte) (crypto.Hash, []byte, error) {
	s := cryptobyte.String(tstInfo)
	var seq, imprint cryptobyte.String
	var version int64
	var policy cryptobyte.String // any size: a 2.25 policy has a 128-bit arc
	var hashed []byte
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) ||
		version != 1 || !seq.ReadASN1(&policy, cbasn1.OBJECT_IDENTIFIER) || !seq.ReadASN1(&imprint, cbasn1.SEQUENCE) {
		return 0, nil, malformed("TSTInfo")
	}
	alg, err := readAlgorithmIdentifier(&imprint)
	if err != nil {
		return 0, nil, err
	}
	h, err := alg.digest()
	if err != nil {
		return 0, nil, err
	}
	if !imprint.ReadASN1Bytes(&hashed, cbasn1.OCTET_STRING) || !imprint.Empty() || len(hashed) != h.Size() {
		return 0, nil, malformed("TSTInfo messageImprint")
	}
	return h, hashed, nil
}
