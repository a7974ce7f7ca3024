package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	_ "crypto/sha256" // hashes of CertIDs and signatures
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"eidp/hsm"
	"eidp/hsm/keyring"
)

// The OCSP responder (RFC 6960). Requests are parsed here rather than with
// golang.org/x/crypto/ocsp.ParseRequest, which drops request extensions, and
// responses are built here because ocsp.CreateResponse puts extra
// extensions into singleExtensions, whereas a nonce is echoed in
// responseExtensions (RFC 6960 §4.4.1; OpenSSL looks for it there). The
// ocsp package provides the pre-encoded error responses.

// Limits on OCSP requests.
const (
	maxOCSPRequestBytes = 8 << 10
	maxOCSPCertIDs      = 8
	// maxNonce: RFC 8954 §2.1 caps the nonce at 32 octets; the extnValue
	// holds it inside an OCTET STRING (2 header octets).
	maxNonce = 32 + 2
)

var (
	errMalformedOCSP    = errors.New("ca: malformed OCSP request")
	errUnauthorizedOCSP = errors.New("ca: OCSP request for a certificate this responder is not authoritative for")
)

var (
	oidOCSPBasic   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidECDSASHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidRSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}

	ocspHashes = []struct {
		oid  asn1.ObjectIdentifier
		hash crypto.Hash
	}{
		{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, crypto.SHA1},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, crypto.SHA512},
	}
)

// ocspCertID is one CertID of a request (RFC 6960 §4.1.1).
type ocspCertID struct {
	raw               []byte // DER, echoed in the SingleResponse
	hash              crypto.Hash
	nameHash, keyHash []byte
	serial            *big.Int
}

// ocspRequest is what the responder reads of a request.
type ocspRequest struct {
	certIDs []ocspCertID
	// nonce is the extnValue of the id-pkix-ocsp-nonce extension, nil if
	// the request has none.
	nonce []byte
}

var (
	tagExplicit0 = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagExplicit1 = cbasn1.Tag(1).Constructed().ContextSpecific()
	tagExplicit2 = cbasn1.Tag(2).Constructed().ContextSpecific()
)

// parseOCSPRequest reads an OCSPRequest (RFC 6960 §4.1.1):
//
//	OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
//	TBSRequest ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1,
//	    requestorName [1] EXPLICIT GeneralName OPTIONAL, requestList SEQUENCE OF Request,
//	    requestExtensions [2] EXPLICIT Extensions OPTIONAL }
//	Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
//
// A signature, if any, is not checked: the responder answers anyone.
func parseOCSPRequest(der []byte) (ocspRequest, error) {
	var (
		out        ocspRequest
		input      = cryptobyte.String(der)
		req, tbs   cryptobyte.String
		list       cryptobyte.String
		version    cryptobyte.String
		hasVersion bool
	)
	if len(der) > maxOCSPRequestBytes {
		return out, fmt.Errorf("%w: larger than %d bytes", errMalformedOCSP, maxOCSPRequestBytes)
	}
	if !input.ReadASN1(&req, cbasn1.SEQUENCE) || !input.Empty() || !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return out, fmt.Errorf("%w: not an OCSPRequest", errMalformedOCSP)
	}
	if !req.SkipOptionalASN1(tagExplicit0) || !req.Empty() {
		return out, fmt.Errorf("%w: trailing data after tbsRequest", errMalformedOCSP)
	}
	if !tbs.ReadOptionalASN1(&version, &hasVersion, tagExplicit0) {
		return out, fmt.Errorf("%w: version", errMalformedOCSP)
	}
	if hasVersion {
		var v int64
		if !version.ReadASN1Int64WithTag(&v, cbasn1.INTEGER) || !version.Empty() || v != 0 {
			return out, fmt.Errorf("%w: only version v1 (0) is defined", errMalformedOCSP)
		}
	}
	if !tbs.SkipOptionalASN1(tagExplicit1) || !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return out, fmt.Errorf("%w: requestList", errMalformedOCSP)
	}
	for !list.Empty() {
		var one cryptobyte.String
		if !list.ReadASN1(&one, cbasn1.SEQUENCE) {
			return out, fmt.Errorf("%w: Request", errMalformedOCSP)
		}
		id, err := parseCertID(&one)
		if err != nil {
			return out, err
		}
		if !one.SkipOptionalASN1(tagExplicit0) || !one.Empty() {
			return out, fmt.Errorf("%w: trailing data in Request", errMalformedOCSP)
		}
		if len(out.certIDs) == maxOCSPCertIDs {
			return out, fmt.Errorf("%w: more than %d certificates in one request", errMalformedOCSP, maxOCSPCertIDs)
		}
		out.certIDs = append(out.certIDs, id)
	}
	if len(out.certIDs) == 0 {
		return out, fmt.Errorf("%w: empty requestList", errMalformedOCSP)
	}
	var (
		exts    cryptobyte.String
		hasExts bool
	)
	if !tbs.ReadOptionalASN1(&exts, &hasExts, tagExplicit2) || !tbs.Empty() {
		return out, fmt.Errorf("%w: requestExtensions", errMalformedOCSP)
	}
	if hasExts {
		nonce, err := parseRequestExtensions(exts)
		if err != nil {
			return out, err
		}
		out.nonce = nonce
	}
	return out, nil
}

// parseCertID reads
//
//	CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING,
//	    issuerKeyHash OCTET STRING, serialNumber CertificateSerialNumber }
func parseCertID(s *cryptobyte.String) (ocspCertID, error) {
	var (
		id                ocspCertID
		raw, body, alg    cryptobyte.String
		oid               asn1.ObjectIdentifier
		nameHash, keyHash cryptobyte.String
	)
	if !s.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
		return id, fmt.Errorf("%w: CertID", errMalformedOCSP)
	}
	id.raw = bytes.Clone(raw)
	id.serial = new(big.Int)
	if !raw.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) ||
		!body.ReadASN1(&nameHash, cbasn1.OCTET_STRING) || !body.ReadASN1(&keyHash, cbasn1.OCTET_STRING) ||
		!body.ReadASN1Integer(id.serial) || !body.Empty() {
		return id, fmt.Errorf("%w: CertID", errMalformedOCSP)
	}
	// Parameters: absent or NULL.
	if !alg.Empty() {
		var null cryptobyte.String
		if !alg.ReadASN1(&null, cbasn1.NULL) || !null.Empty() || !alg.Empty() {
			return id, fmt.Errorf("%w: hash algorithm parameters", errMalformedOCSP)
		}
	}
	for _, h := range ocspHashes {
		if h.oid.Equal(oid) {
			id.hash = h.hash
		}
	}
	id.nameHash, id.keyHash = nameHash, keyHash
	return id, nil
}

// parseRequestExtensions returns the nonce's extnValue, if present.
// Unknown non-critical extensions are ignored; unknown critical ones make
// the request malformed.
func parseRequestExtensions(exts cryptobyte.String) ([]byte, error) {
	var (
		seq   cryptobyte.String
		nonce []byte
	)
	if !exts.ReadASN1(&seq, cbasn1.SEQUENCE) || !exts.Empty() {
		return nil, fmt.Errorf("%w: Extensions", errMalformedOCSP)
	}
	for !seq.Empty() {
		var (
			ext      cryptobyte.String
			oid      asn1.ObjectIdentifier
			critical bool
			value    cryptobyte.String
		)
		if !seq.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			!ext.ReadOptionalASN1Boolean(&critical, cbasn1.BOOLEAN, false) ||
			!ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return nil, fmt.Errorf("%w: Extension", errMalformedOCSP)
		}
		switch {
		case oid.Equal(OIDOCSPNonce):
			if nonce != nil {
				return nil, fmt.Errorf("%w: two nonces", errMalformedOCSP)
			}
			if len(value) == 0 || len(value) > maxNonce {
				return nil, fmt.Errorf("%w: nonce of %d octets (RFC 8954: 1 to 32)", errMalformedOCSP, len(value))
			}
			nonce = bytes.Clone(value)
		case critical:
			return nil, fmt.Errorf("%w: unsupported critical extension %s", errMalformedOCSP, oid)
		}
	}
	return nonce, nil
}

// matches reports whether the CertID names issuer (RFC 6960 §4.1.1: hashes
// of the issuer's DN and of its public key's BIT STRING).
func (id ocspCertID) matches(issuer *x509.Certificate, issuerKeyBits []byte) bool {
	if id.hash == 0 || !id.hash.Available() {
		return false
	}
	h := id.hash.New()
	h.Write(issuer.RawSubject)
	if !bytes.Equal(h.Sum(nil), id.nameHash) {
		return false
	}
	h.Reset()
	h.Write(issuerKeyBits)
	return bytes.Equal(h.Sum(nil), id.keyHash)
}

// publicKeyBits returns the subjectPublicKey BIT STRING of a certificate.
func publicKeyBits(c *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, err
	}
	return spki.PublicKey.RightAlign(), nil
}

// single is one answer of a response.
type single struct {
	certID []byte
	status Status
}

// answerOCSP answers a DER request: the DER response and its nextUpdate.
// errMalformedOCSP and errUnauthorizedOCSP are the client's fault; other
// errors are ours.
func (a *Authority) answerOCSP(ctx context.Context, der []byte) ([]byte, time.Time, error) {
	req, err := parseOCSPRequest(der)
	if err != nil {
		return nil, time.Time{}, err
	}
	cur, err := a.complete(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	issuing, responder := cur[KindIssuing], cur[KindOCSP]
	keyBits, err := publicKeyBits(issuing.cert)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("ca: issuing CA key: %w", err)
	}
	singles := make([]single, 0, len(req.certIDs))
	for _, id := range req.certIDs {
		if !id.matches(issuing.cert, keyBits) {
			return nil, time.Time{}, errUnauthorizedOCSP
		}
		st, err := a.Status(ctx, id.serial)
		if err != nil {
			return nil, time.Time{}, err
		}
		singles = append(singles, single{certID: id.raw, status: st})
	}
	signer, err := a.signer(ctx, keyring.OCSP, responder.keyID)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := a.clock().Truncate(time.Second)
	next := now.Add(a.cfg.OCSPValidity)
	resp, err := buildOCSPResponse(ctx, responder.cert, signer, singles, req.nonce, now, next)
	if err != nil {
		return nil, time.Time{}, err
	}
	return resp, next, nil
}

// signatureParams returns the hash and AlgorithmIdentifier a key signs
// responses with.
func signatureParams(pub crypto.PublicKey) (crypto.Hash, func(*cryptobyte.Builder), error) {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		hash, oid := crypto.SHA256, oidECDSASHA256
		if pub.Curve == elliptic.P384() {
			hash, oid = crypto.SHA384, oidECDSASHA384
		}
		return hash, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		}, nil
	case *rsa.PublicKey:
		return crypto.SHA256, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSASHA256)
				b.AddASN1NULL()
			})
		}, nil
	}
	return 0, nil, fmt.Errorf("ca: OCSP responder key %T is not supported", pub)
}

// buildOCSPResponse encodes and signs a successful response (RFC 6960
// §4.2.1) whose ResponderID is the SHA-1 hash of the responder's key
// (byKey), with the responder's certificate included so that clients can
// check the delegation (§4.2.2.2).
//
//	BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, signatureAlgorithm AlgorithmIdentifier,
//	    signature BIT STRING, certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
//	ResponseData ::= SEQUENCE { version [0] EXPLICIT Version DEFAULT v1, responderID ResponderID,
//	    producedAt GeneralizedTime, responses SEQUENCE OF SingleResponse,
//	    responseExtensions [1] EXPLICIT Extensions OPTIONAL }
//	SingleResponse ::= SEQUENCE { certID CertID, certStatus CertStatus, thisUpdate GeneralizedTime,
//	    nextUpdate [0] EXPLICIT GeneralizedTime OPTIONAL, singleExtensions [1] EXPLICIT Extensions OPTIONAL }
//	CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT UnknownInfo }
func buildOCSPResponse(ctx context.Context, responder *x509.Certificate, signer hsm.Signer, singles []single, nonce []byte, now, next time.Time) ([]byte, error) {
	keyBits, err := publicKeyBits(responder)
	if err != nil {
		return nil, fmt.Errorf("ca: responder key: %w", err)
	}
	keyHash := sha1.Sum(keyBits)
	var tb cryptobyte.Builder
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(tagExplicit2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(keyHash[:]) })
		b.AddASN1GeneralizedTime(now)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, s := range singles {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddBytes(s.certID)
					switch {
					case !s.status.Known:
						b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
					case s.status.Revoked:
						b.AddASN1(tagExplicit1, func(b *cryptobyte.Builder) {
							b.AddASN1GeneralizedTime(s.status.RevokedAt.UTC().Truncate(time.Second))
							if s.status.Reason != ReasonUnspecified {
								b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(s.status.Reason)) })
							}
						})
					default:
						b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
					}
					b.AddASN1GeneralizedTime(now)
					b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) { b.AddASN1GeneralizedTime(next) })
				})
			}
		})
		if nonce != nil {
			b.AddASN1(tagExplicit1, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(OIDOCSPNonce)
						b.AddASN1OctetString(nonce)
					})
				})
			})
		}
	})
	tbs, err := tb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: encode OCSP response: %w", err)
	}
	hash, algID, err := signatureParams(signer.Public())
	if err != nil {
		return nil, err
	}
	h := hash.New()
	h.Write(tbs)
	sig, err := signer.SignContext(ctx, h.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("ca: sign OCSP response: %w", err)
	}
	var bb cryptobyte.Builder
	bb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		algID(b)
		b.AddASN1BitString(sig)
		b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(responder.Raw) })
		})
	})
	basic, err := bb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: encode OCSP response: %w", err)
	}
	var rb cryptobyte.Builder
	rb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(0) // successful
		b.AddASN1(tagExplicit0, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1OctetString(basic)
			})
		})
	})
	return rb.Bytes()
}

// OCSPResponse returns a signed OCSP response (DER) about a certificate of
// the issuing CA, as the responder would answer a request for it without a
// nonce: the validation material a signature embeds for long-term
// validation (PAdES/CAdES B-LT). The CertID uses SHA-1, which every client
// matches (RFC 5019 §2.1.1). A certificate of another issuer yields
// ErrNotFound.
func (a *Authority) OCSPResponse(ctx context.Context, cert *x509.Certificate) ([]byte, error) {
	cur, err := a.complete(ctx)
	if err != nil {
		return nil, err
	}
	issuing, responder := cur[KindIssuing], cur[KindOCSP]
	if cert == nil || !bytes.Equal(cert.RawIssuer, issuing.cert.RawSubject) || cert.CheckSignatureFrom(issuing.cert) != nil {
		return nil, fmt.Errorf("%w: the certificate was not issued by the issuing CA", ErrNotFound)
	}
	keyBits, err := publicKeyBits(issuing.cert)
	if err != nil {
		return nil, fmt.Errorf("ca: issuing CA key: %w", err)
	}
	nameHash, keyHash := sha1.Sum(issuing.cert.RawSubject), sha1.Sum(keyBits)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(ocspHashes[0].oid)
			b.AddASN1NULL()
		})
		b.AddASN1OctetString(nameHash[:])
		b.AddASN1OctetString(keyHash[:])
		b.AddASN1BigInt(cert.SerialNumber)
	})
	certID, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ca: encode CertID: %w", err)
	}
	st, err := a.Status(ctx, cert.SerialNumber)
	if err != nil {
		return nil, err
	}
	signer, err := a.signer(ctx, keyring.OCSP, responder.keyID)
	if err != nil {
		return nil, err
	}
	now := a.clock().Truncate(time.Second)
	return buildOCSPResponse(ctx, responder.cert, signer, []single{{certID: certID, status: st}}, nil, now, now.Add(a.cfg.OCSPValidity))
}
