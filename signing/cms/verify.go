package cms

import (
	"bytes"
	"crypto"
	"fmt"
)

// Verify checks every SignerInfo against contentDigest, the digest of the
// (detached) content with the signer's digest algorithm; when the content is
// encapsulated, contentDigest may be nil and the content is hashed here (if
// given, it must match the content too). For each signer it checks
// (RFC 5652 §5.4, §5.6, §11): the message-digest attribute, the signature
// over the DER SET of signed attributes with the embedded certificate's key,
// the content-type attribute against eContentType, and a signing-certificate
// (v2, or v1 in older time-stamp tokens) attribute if present. It does not
// build or check certificate chains, validity periods or key usages.
func (sd *SignedData) Verify(contentDigest []byte) error {
	return sd.verify(func(h crypto.Hash) ([]byte, error) {
		if sd.Content != nil {
			d := digest(h, sd.Content)
			if contentDigest != nil && !bytes.Equal(contentDigest, d) {
				return nil, fmt.Errorf("%w: the given digest is not the %v of the encapsulated content", ErrInvalidSignature, h)
			}
			return d, nil
		}
		if contentDigest == nil {
			return nil, fmt.Errorf("%w: detached signature and no content digest given", ErrInvalidSignature)
		}
		if len(contentDigest) != h.Size() {
			return nil, fmt.Errorf("%w: content digest is %d bytes, the signer's %v needs %d", ErrInvalidSignature, len(contentDigest), h, h.Size())
		}
		return contentDigest, nil
	})
}

// VerifyContent is Verify for a detached signature over content: each
// signer's digest algorithm is applied to content.
func (sd *SignedData) VerifyContent(content []byte) error {
	if sd.Content != nil && !bytes.Equal(sd.Content, content) {
		return fmt.Errorf("%w: content differs from the encapsulated content", ErrInvalidSignature)
	}
	return sd.verify(func(h crypto.Hash) ([]byte, error) { return digest(h, content), nil })
}

func (sd *SignedData) verify(contentDigest func(crypto.Hash) ([]byte, error)) error {
	if len(sd.Signers) == 0 {
		return fmt.Errorf("%w: no signer", ErrInvalidSignature)
	}
	for i := range sd.Signers {
		si := &sd.Signers[i]
		d, err := contentDigest(si.DigestAlgorithm)
		if err != nil {
			return fmt.Errorf("signer %d: %w", i, err)
		}
		if err := sd.verifySigner(si, d); err != nil {
			return fmt.Errorf("signer %d: %w", i, err)
		}
	}
	return nil
}

func (sd *SignedData) verifySigner(si *SignerInfo, contentDigest []byte) error {
	if si.Certificate == nil {
		return fmt.Errorf("%w: the signer certificate is not embedded", ErrInvalidSignature)
	}
	if si.RawSignedAttributes == nil {
		// Every ETSI baseline profile requires signed attributes.
		return fmt.Errorf("%w: no signed attributes (required by CAdES, PAdES and RFC 3161)", ErrInvalidSignature)
	}
	if !bytes.Equal(si.MessageDigest, contentDigest) {
		return fmt.Errorf("%w: message-digest attribute does not match the content", ErrInvalidSignature)
	}
	if !si.ContentType.Equal(sd.ContentType) {
		return fmt.Errorf("%w: content-type attribute %s is not eContentType %s", ErrInvalidSignature, si.ContentType, sd.ContentType)
	}
	if si.essErr != nil {
		return si.essErr
	}
	err := checkSignature(si.Certificate.PublicKey, si.SignatureAlgorithm, digest(si.DigestAlgorithm, si.RawSignedAttributes), si.Signature)
	if err != nil {
		return fmt.Errorf("signature over the signed attributes: %w", err)
	}
	return nil
}
