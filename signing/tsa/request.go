package tsa

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eidp/signing/cms"
)

// Request is a TimeStampReq (RFC 3161 §2.4.1).
type Request struct {
	Hash    crypto.Hash
	Digest  []byte
	Policy  x509.OID // reqPolicy; the zero OID for none
	Nonce   *big.Int // nil for none
	CertReq bool

	// hashAlg is the hashAlgorithm element as received.
	hashAlg []byte
}

// NewRequest encodes a TimeStampReq for the message imprint (hash, digest),
// with a nonce if not nil and certReq.
func NewRequest(hash crypto.Hash, digest []byte, nonce *big.Int, certReq bool) ([]byte, error) {
	return Request{Hash: hash, Digest: digest, Nonce: nonce, CertReq: certReq}.Marshal()
}

// Marshal encodes the request as DER.
func (r Request) Marshal() ([]byte, error) {
	oid := cms.HashOID(r.Hash)
	if oid == nil {
		return nil, fmt.Errorf("%w: hash %v (use SHA-256, SHA-384 or SHA-512)", cms.ErrUnsupportedAlgorithm, r.Hash)
	}
	if len(r.Digest) != r.Hash.Size() {
		return nil, fmt.Errorf("%w: the %v digest is %d bytes, want %d", ErrRequest, r.Hash, len(r.Digest), r.Hash.Size())
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
			b.AddASN1OctetString(r.Digest)
		})
		if oidSet(r.Policy) {
			addOID(b, r.Policy)
		}
		if r.Nonce != nil {
			b.AddASN1BigInt(r.Nonce)
		}
		if r.CertReq { // DEFAULT FALSE is left out in DER
			b.AddASN1Boolean(true)
		}
	})
	return b.Bytes()
}

// ParseRequest reads a DER TimeStampReq. Its errors are *RequestError with
// the PKIFailureInfo a response should carry: badDataFormat for anything
// that is not a well-formed version 1 request or whose digest has the wrong
// length, badAlg for a hash other than SHA-256/384/512, unacceptedExtension
// for extensions (we support none).
func ParseRequest(der []byte) (*Request, error) {
	s := cryptobyte.String(der)
	var seq, imprint, algEl, alg cryptobyte.String
	var version int64
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, refuse(BadDataFormat, "not a DER TimeStampReq")
	}
	if !seq.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 1 {
		return nil, refuse(BadDataFormat, "version must be 1")
	}
	if !seq.ReadASN1(&imprint, cbasn1.SEQUENCE) || !imprint.ReadASN1Element(&algEl, cbasn1.SEQUENCE) {
		return nil, refuse(BadDataFormat, "messageImprint")
	}
	r := &Request{hashAlg: algEl}
	var oid asn1.ObjectIdentifier
	alg = algEl
	var algBody cryptobyte.String
	if !alg.ReadASN1(&algBody, cbasn1.SEQUENCE) || !algBody.ReadASN1ObjectIdentifier(&oid) {
		return nil, refuse(BadDataFormat, "messageImprint hashAlgorithm")
	}
	// RFC 5754 §2: parameters absent or NULL.
	if !algBody.Empty() && !(len(algBody) == 2 && algBody[0] == 0x05 && algBody[1] == 0) {
		return nil, refuse(BadDataFormat, "hashAlgorithm %s has parameters", oid)
	}
	h, err := cms.HashFromOID(oid)
	if err != nil {
		return nil, refuse(BadAlg, "hash algorithm %s is not accepted (SHA-256, SHA-384, SHA-512)", oid)
	}
	r.Hash = h
	if !imprint.ReadASN1Bytes(&r.Digest, cbasn1.OCTET_STRING) || !imprint.Empty() {
		return nil, refuse(BadDataFormat, "messageImprint hashedMessage")
	}
	if len(r.Digest) != h.Size() {
		return nil, refuse(BadDataFormat, "the %v digest is %d bytes, want %d", h, len(r.Digest), h.Size())
	}
	if seq.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		if !readOID(&seq, &r.Policy) {
			return nil, refuse(BadDataFormat, "reqPolicy")
		}
	}
	if seq.PeekASN1Tag(cbasn1.INTEGER) {
		r.Nonce = new(big.Int)
		if !seq.ReadASN1Integer(r.Nonce) {
			return nil, refuse(BadDataFormat, "nonce")
		}
	}
	if seq.PeekASN1Tag(cbasn1.BOOLEAN) {
		if !seq.ReadASN1Boolean(&r.CertReq) {
			return nil, refuse(BadDataFormat, "certReq")
		}
	}
	if seq.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, refuse(UnacceptedExtension, "request extensions are not supported")
	}
	if !seq.Empty() {
		return nil, refuse(BadDataFormat, "trailing data in TimeStampReq")
	}
	return r, nil
}
