package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // ESS signing-certificate (v1) in older time-stamp tokens
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignOptions says what SignDigest builds.
type SignOptions struct {
	// Hash is the digest algorithm: crypto.SHA256, SHA384 or SHA512. It digests
	// the content, the signed attributes and the signer certificate (ESS).
	Hash crypto.Hash
	// Certificate is the signer certificate; its public key must be the signer's.
	Certificate *x509.Certificate
	// Chain holds further certificates to embed (the issuing CA; not the root
	// unless the caller wants it).
	Chain []*x509.Certificate
	// NoCertificates embeds no certificate at all, not even Certificate
	// (RFC 3161 §2.4.1: a token for a request with certReq false).
	NoCertificates bool
	// SigningTime adds the signing-time attribute when not zero (CAdES B-B
	// requires it, EN 319 122-1 §5.2.1 and §6.3; PAdES B-B forbids it,
	// EN 319 142-1 §6.3 — the time goes into the signature dictionary's /M).
	SigningTime time.Time
	// ContentType is the eContentType; nil means id-data.
	ContentType asn1.ObjectIdentifier
	// Content is the encapsulated content; nil makes a detached signature.
	Content []byte
	// ExtraSigned are further signed attributes. They may not repeat the
	// attributes SignDigest writes itself.
	ExtraSigned []Attribute
	// PSS selects RSASSA-PSS (MGF1 with Hash, salt as long as the hash) for
	// an RSA key instead of PKCS #1 v1.5. Ignored for ECDSA keys.
	PSS bool
}

// Attribute is a CMS Attribute (RFC 5652 §5.3): a type and a SET OF values.
type Attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue
}

// contextSigner is the part of hsm.Signer that lets a signature be cancelled.
type contextSigner interface {
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// SignDigest builds a DER ContentInfo holding a SignedData (RFC 5652 §5) over
// content whose opts.Hash digest is contentDigest. The one SignerInfo
// identifies the signer by issuerAndSerialNumber and carries the signed
// attributes content-type, message-digest, signing-certificate-v2 and,
// if opts.SigningTime is set, signing-time, followed by opts.ExtraSigned.
// The signature is checked against the certificate's key before it is
// returned, so a faulty HSM or a certificate for another key is caught here.
func SignDigest(ctx context.Context, signer crypto.Signer, contentDigest []byte, opts SignOptions) ([]byte, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrOptions)
	}
	if opts.Certificate == nil {
		return nil, fmt.Errorf("%w: no signer certificate", ErrOptions)
	}
	h := opts.Hash
	if HashOID(h) == nil {
		return nil, fmt.Errorf("%w: digest %v (use SHA-256, SHA-384 or SHA-512)", ErrUnsupportedAlgorithm, h)
	}
	if len(contentDigest) != h.Size() {
		return nil, fmt.Errorf("%w: content digest is %d bytes, %v needs %d", ErrOptions, len(contentDigest), h, h.Size())
	}
	if opts.Content != nil && !bytes.Equal(digest(h, opts.Content), contentDigest) {
		return nil, fmt.Errorf("%w: content digest is not the %v of Content", ErrOptions, h)
	}
	contentType := opts.ContentType
	if contentType == nil {
		contentType = OIDData
	}
	pub := signer.Public()
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(opts.Certificate.PublicKey) {
		return nil, fmt.Errorf("%w: the certificate's public key is not the signer's", ErrOptions)
	}
	alg, signerOpts, err := chooseSignatureAlgorithm(pub, h, opts.PSS)
	if err != nil {
		return nil, err
	}

	attrs, err := signedAttributes(contentType, contentDigest, opts)
	if err != nil {
		return nil, err
	}
	signedAttrs, err := encodeAttributeSet(cbasn1.SET, attrs)
	if err != nil {
		return nil, err
	}
	// RFC 5652 §5.4: the signature covers the DER SET OF signed attributes.
	attrsDigest := digest(h, signedAttrs)
	var sig []byte
	if cs, ok := signer.(contextSigner); ok {
		sig, err = cs.SignContext(ctx, attrsDigest, signerOpts)
	} else {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sig, err = signer.Sign(rand.Reader, attrsDigest, signerOpts)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	if err := checkSignature(pub, alg, attrsDigest, sig); err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify with the certificate's key: %w", ErrSigner, err)
	}

	var certs [][]byte
	if !opts.NoCertificates {
		certs = append(certs, opts.Certificate.Raw)
		for _, c := range opts.Chain {
			if c == nil {
				return nil, fmt.Errorf("%w: nil certificate in Chain", ErrOptions)
			}
			if !slices.ContainsFunc(certs, func(r []byte) bool { return bytes.Equal(r, c.Raw) }) {
				certs = append(certs, c.Raw)
			}
		}
	}

	signerInfo, err := build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(1) // RFC 5652 §5.3: version 1 with issuerAndSerialNumber
			addIssuerAndSerial(b, opts.Certificate)
			addDigestAlgorithm(b, h)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddBytes(signedAttrs[headerLen(signedAttrs):])
			})
			addSignatureAlgorithm(b, alg)
			b.AddASN1OctetString(sig)
		})
	})
	if err != nil {
		return nil, err
	}
	return encodeSignedData(signedDataParts{
		contentType: contentType,
		content:     opts.Content,
		digestAlgs:  []crypto.Hash{h},
		certs:       certs,
		signerInfos: [][]byte{signerInfo},
	})
}

// chooseSignatureAlgorithm picks the signature algorithm for the key and
// the options to pass to crypto.Signer.
func chooseSignatureAlgorithm(pub crypto.PublicKey, h crypto.Hash, pss bool) (x509.SignatureAlgorithm, crypto.SignerOpts, error) {
	byHash := func(a256, a384, a512 x509.SignatureAlgorithm) x509.SignatureAlgorithm {
		return map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: a256, crypto.SHA384: a384, crypto.SHA512: a512}[h]
	}
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return byHash(x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512), h, nil
	case *rsa.PublicKey:
		if pss {
			// SoftHSM refuses PSSSaltLengthAuto; a salt as long as the hash is
			// what RFC 4055 §3.1 recommends and what we verify.
			return byHash(x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS),
				&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}, nil
		}
		return byHash(x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA), h, nil
	}
	return 0, nil, fmt.Errorf("%w: key type %T (ECDSA and RSA are supported)", ErrUnsupportedAlgorithm, pub)
}

// checkSignature verifies sig over a pre-computed digest.
func checkSignature(pub crypto.PublicKey, alg x509.SignatureAlgorithm, digest, sig []byte) error {
	h := hashOfSignatureAlgorithm(alg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg != x509.ECDSAWithSHA256 && alg != x509.ECDSAWithSHA384 && alg != x509.ECDSAWithSHA512 {
			return fmt.Errorf("%w: %v with an ECDSA key", ErrInvalidSignature, alg)
		}
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return fmt.Errorf("%w: ECDSA signature does not verify", ErrInvalidSignature)
		}
		return nil
	case *rsa.PublicKey:
		switch alg {
		case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA:
			if err := rsa.VerifyPKCS1v15(k, h, digest, sig); err != nil {
				return fmt.Errorf("%w: RSA signature does not verify", ErrInvalidSignature)
			}
			return nil
		case x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
			if err := rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}); err != nil {
				return fmt.Errorf("%w: RSASSA-PSS signature does not verify", ErrInvalidSignature)
			}
			return nil
		}
		return fmt.Errorf("%w: %v with an RSA key", ErrInvalidSignature, alg)
	}
	return fmt.Errorf("%w: key type %T", ErrUnsupportedAlgorithm, pub)
}

// signedAttributes lists the signed attributes SignDigest writes.
func signedAttributes(contentType asn1.ObjectIdentifier, contentDigest []byte, opts SignOptions) ([]Attribute, error) {
	ct, err := asn1.Marshal(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: content type: %w", ErrOptions, err)
	}
	md, _ := asn1.Marshal(contentDigest)
	essv2, err := signingCertificateV2(opts.Certificate, opts.Hash)
	if err != nil {
		return nil, err
	}
	attrs := []Attribute{
		{Type: OIDContentType, Values: []asn1.RawValue{{FullBytes: ct}}},
		{Type: OIDMessageDigest, Values: []asn1.RawValue{{FullBytes: md}}},
		{Type: OIDSigningCertificateV2, Values: []asn1.RawValue{{FullBytes: essv2}}},
	}
	if !opts.SigningTime.IsZero() {
		st, err := encodeTime(opts.SigningTime)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, Attribute{Type: OIDSigningTime, Values: []asn1.RawValue{{FullBytes: st}}})
	}
	for _, a := range opts.ExtraSigned {
		for _, own := range attrs {
			if a.Type.Equal(own.Type) {
				return nil, fmt.Errorf("%w: ExtraSigned repeats attribute %s, which SignDigest writes", ErrOptions, a.Type)
			}
		}
		if a.Type.Equal(OIDSigningCertificate) {
			return nil, fmt.Errorf("%w: ExtraSigned has signing-certificate (v1); v2 is written", ErrOptions)
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

// encodeTime writes signing-time as RFC 5652 §11.3 requires: UTCTime for
// 1950–2049, GeneralizedTime otherwise, in UTC, to the second.
func encodeTime(t time.Time) ([]byte, error) {
	t = t.UTC().Truncate(time.Second)
	return build(func(b *cryptobyte.Builder) {
		if t.Year() >= 1950 && t.Year() < 2050 {
			b.AddASN1UTCTime(t)
		} else {
			b.AddASN1GeneralizedTime(t)
		}
	})
}

// signingCertificateV2 encodes SigningCertificateV2 (RFC 5035 §3) with one
// ESSCertIDv2 for cert: certHash over the whole certificate with h, the
// hashAlgorithm omitted when it is the DEFAULT SHA-256 (X.690 §11.5), and
// issuerSerial (EN 319 122-1 §5.2.2.3 recommends it).
func signingCertificateV2(cert *x509.Certificate, h crypto.Hash) ([]byte, error) {
	return build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SigningCertificateV2
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // certs
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // ESSCertIDv2
					if h != crypto.SHA256 {
						addDigestAlgorithm(b, h)
					}
					b.AddASN1OctetString(digest(h, cert.Raw))
					addIssuerSerial(b, cert)
				})
			})
		})
	})
}

// addIssuerSerial writes IssuerSerial (RFC 5035 §4): GeneralNames holding
// the issuer as a directoryName ([4], explicit because Name is a CHOICE).
func addIssuerSerial(b *cryptobyte.Builder, cert *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddBytes(cert.RawIssuer)
			})
		})
		b.AddASN1BigInt(cert.SerialNumber)
	})
}

// addIssuerAndSerial writes IssuerAndSerialNumber (RFC 5652 §10.2.4).
func addIssuerAndSerial(b *cryptobyte.Builder, cert *x509.Certificate) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(cert.RawIssuer)
		b.AddASN1BigInt(cert.SerialNumber)
	})
}

// encodeAttributeSet encodes attributes as a DER SET OF (elements sorted,
// X.690 §11.6) under tag: SET for signing, [0]/[1] IMPLICIT in a SignerInfo.
func encodeAttributeSet(tag cbasn1.Tag, attrs []Attribute) ([]byte, error) {
	elems := make([][]byte, 0, len(attrs))
	for _, a := range attrs {
		e, err := encodeAttribute(a)
		if err != nil {
			return nil, err
		}
		elems = append(elems, e)
	}
	return encodeSet(tag, elems)
}

func encodeAttribute(a Attribute) ([]byte, error) {
	if len(a.Values) == 0 {
		return nil, fmt.Errorf("%w: attribute %s has no value", ErrOptions, a.Type)
	}
	values := make([][]byte, 0, len(a.Values))
	for _, v := range a.Values {
		e, err := asn1.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: attribute %s: %w", ErrOptions, a.Type, err)
		}
		// The value must be one DER element.
		s := cryptobyte.String(e)
		var el cryptobyte.String
		if !s.ReadAnyASN1Element(&el, nil) || !s.Empty() {
			return nil, fmt.Errorf("%w: attribute %s: value is not one DER element", ErrOptions, a.Type)
		}
		values = append(values, e)
	}
	set, err := encodeSet(cbasn1.SET, values)
	if err != nil {
		return nil, err
	}
	return build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(a.Type)
			b.AddBytes(set)
		})
	})
}

// encodeSet writes elems as a DER SET OF under tag, sorted by their encodings.
func encodeSet(tag cbasn1.Tag, elems [][]byte) ([]byte, error) {
	sorted := slices.Clone(elems)
	slices.SortFunc(sorted, bytes.Compare)
	return build(func(b *cryptobyte.Builder) {
		b.AddASN1(tag, func(b *cryptobyte.Builder) {
			for _, e := range sorted {
				b.AddBytes(e)
			}
		})
	})
}

// signedDataParts are the pieces of a SignedData, each signer and
// certificate as a DER element.
type signedDataParts struct {
	contentType asn1.ObjectIdentifier
	content     []byte // nil: detached
	digestAlgs  []crypto.Hash
	rawDigests  []byte // the digestAlgorithms SET as read, when re-encoding a parsed SignedData
	certs       [][]byte
	certsRaw    []byte // the [0] element as read
	crlsRaw     []byte // the [1] element as read
	signerInfos [][]byte
	version     int64 // 0: computed
}

// encodeSignedData writes ContentInfo { signedData, SignedData } (RFC 5652 §3, §5.1).
func encodeSignedData(p signedDataParts) ([]byte, error) {
	version := p.version
	if version == 0 {
		// RFC 5652 §5.1: version 3 when eContentType is not id-data (our
		// SignerInfos are version 1 and we write no attribute certificates).
		version = 1
		if !p.contentType.Equal(OIDData) {
			version = 3
		}
	}
	signers, err := encodeSet(cbasn1.SET, p.signerInfos)
	if err != nil {
		return nil, err
	}
	return build(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(OIDSignedData)
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1Int64(version)
					if p.rawDigests != nil {
						b.AddBytes(p.rawDigests)
					} else {
						b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
							for _, h := range p.digestAlgs {
								addDigestAlgorithm(b, h)
							}
						})
					}
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(p.contentType)
						if p.content != nil {
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddASN1OctetString(p.content)
							})
						}
					})
					switch {
					case p.certsRaw != nil:
						b.AddBytes(p.certsRaw)
					case len(p.certs) > 0:
						set, err := encodeSet(cbasn1.Tag(0).Constructed().ContextSpecific(), p.certs)
						if err != nil {
							b.SetError(err)
						}
						b.AddBytes(set)
					}
					if p.crlsRaw != nil {
						b.AddBytes(p.crlsRaw)
					}
					b.AddBytes(signers)
				})
			})
		})
	})
}

func build(f func(b *cryptobyte.Builder)) ([]byte, error) {
	var b cryptobyte.Builder
	f(&b)
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: encoding: %w", ErrOptions, err)
	}
	return out, nil
}

// headerLen is the length of a DER element's tag and length octets.
func headerLen(der []byte) int {
	if len(der) < 2 || der[1] < 0x80 {
		return 2
	}
	return 2 + int(der[1]&0x7f)
}

func digest(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}
