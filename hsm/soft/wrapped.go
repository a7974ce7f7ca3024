package soft

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"eidp/hsm"
)

var _ hsm.KeyWrapper = (*Soft)(nil)

// wrappedBlobVersion is the first byte of every blob this backend wraps: a
// later format gets another, and hsm/pkcs11 blobs (which start differently)
// are refused with a clear error rather than a failed decryption.
const wrappedBlobVersion = 0x53 // 'S'

// GenerateWrapped creates a key pair in memory and returns its PKCS#8 DER
// (RFC 5208) sealed with AES-256-GCM under the AES-256 key at wrappingKeyURI,
// with the key's algorithm and public key as additional data
// (hsm.WrappedKey.Binding). Blob is version(1) || nonce(12) || ciphertext ||
// tag(16). Nothing of the new key is kept.
func (s *Soft) GenerateWrapped(ctx context.Context, wrappingKeyURI string, alg hsm.Algorithm) (hsm.WrappedKey, error) {
	kek, err := s.aesKey(ctx, wrappingKeyURI, "wrap keys")
	if err != nil {
		return hsm.WrappedKey{}, err
	}
	if alg.Symmetric() {
		return hsm.WrappedKey{}, fmt.Errorf("soft: %w: wrapped keys sign; %s does not", hsm.ErrUnsupportedAlgorithm, alg)
	}
	material, err := generate(alg)
	if err != nil {
		return hsm.WrappedKey{}, err
	}
	defer clear(material)
	priv, err := x509.ParsePKCS8PrivateKey(material)
	if err != nil {
		return hsm.WrappedKey{}, fmt.Errorf("soft: new %s key: %w", alg, err)
	}
	key := hsm.WrappedKey{Algorithm: alg, Public: priv.(crypto.Signer).Public()}
	binding, err := key.Binding()
	if err != nil {
		return hsm.WrappedKey{}, fmt.Errorf("soft: new %s key: %w", alg, err)
	}
	key.Blob = kek.aead.Seal([]byte{wrappedBlobVersion}, nil, material, binding)
	return key, nil
}

// SignWrapped opens key.Blob under the key at wrappingKeyURI, checks that the
// private key is the one of key.Public, signs and forgets it.
func (s *Soft) SignWrapped(ctx context.Context, wrappingKeyURI string, key hsm.WrappedKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	kek, err := s.aesKey(ctx, wrappingKeyURI, "unwrap keys")
	if err != nil {
		return nil, err
	}
	if opts == nil {
		return nil, errors.New("soft: sign: no signer options (pass a crypto.Hash, *rsa.PSSOptions or crypto.Hash(0) for Ed25519)")
	}
	binding, err := key.Binding()
	if err != nil {
		return nil, fmt.Errorf("soft: sign with wrapped key: %w", err)
	}
	blob := key.Blob
	if len(blob) == 0 || blob[0] != wrappedBlobVersion {
		return nil, fmt.Errorf("soft: %w: blob is not a wrapped key of this backend (format byte missing or unknown)", hsm.ErrUnwrap)
	}
	if len(blob) < 1+hsm.GCMNonceSize+hsm.GCMTagSize {
		return nil, fmt.Errorf("soft: %w: blob is %d bytes, shorter than nonce and tag", hsm.ErrUnwrap, len(blob))
	}
	material, err := kek.aead.Open(nil, nil, blob[1:], binding)
	if err != nil {
		return nil, fmt.Errorf("soft: %w", hsm.ErrUnwrap)
	}
	defer clear(material)
	priv, err := x509.ParsePKCS8PrivateKey(material)
	if err != nil {
		return nil, fmt.Errorf("soft: %w: sealed key does not parse: %v", hsm.ErrUnwrap, err)
	}
	// The binding already authenticates Public; this guards against a
	// sealing bug, and costs nothing next to the signature.
	sg, ok := priv.(crypto.Signer)
	if !ok || !sg.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public) {
		return nil, fmt.Errorf("soft: %w: sealed key is not the key of the public key given", hsm.ErrUnwrap)
	}
	var sig []byte
	switch priv := priv.(type) {
	case *ecdsa.PrivateKey:
		sig, err = signECDSA(priv, digest, opts)
	case *rsa.PrivateKey:
		sig, err = signRSA(priv, digest, opts)
	case ed25519.PrivateKey:
		sig, err = signEd25519(priv, digest, opts)
	default:
		err = fmt.Errorf("%w: key type %T", hsm.ErrUnsupportedAlgorithm, priv)
	}
	if err != nil {
		return nil, fmt.Errorf("soft: sign with wrapped %s key: %w", key.Algorithm, err)
	}
	return sig, nil
}
