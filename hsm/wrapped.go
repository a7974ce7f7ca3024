package hsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Residents' signing keys are too many to live in a token: a token holds
// thousands of objects at most, and finding one gets slower with every
// object (TESTING-NOTES: 15 ms at 50 keys, 150 ms at 300 on SoftHSM2). So a
// resident's key pair is generated inside the backend, leaves it only wrapped
// under an AES-256 key-encryption key that never leaves it (keyring role
// signing-kek), is stored wrapped in our database, and is unwrapped for each
// signature into a short-lived object that is destroyed right after. The cost
// of a signature then does not depend on how many residents there are.

// ErrUnwrap means a wrapped key did not open: its blob was altered, it was
// sealed under another wrapping key, or it does not belong to the public key
// and algorithm it is presented with.
var ErrUnwrap = errors.New("hsm: wrapped key not authentic: altered, sealed under another wrapping key, or not the key of this public key")

// WrappedKey is a private key sealed under a wrapping key held by the
// backend; Blob is safe to store. Algorithm and Public are bound to Blob:
// presenting a blob with another public key or algorithm fails with
// ErrUnwrap. The blob's format belongs to the backend that made it.
type WrappedKey struct {
	Algorithm Algorithm
	// Public is *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
	Blob   []byte
}

// KeyWrapper is implemented by backends that can keep keys outside the token
// (both of ours). Find it with KeyWrapperOf, which also sees through Observe.
type KeyWrapper interface {
	// GenerateWrapped creates a key pair inside the backend and returns it
	// wrapped under wrappingKeyURI (an AES-256 key). Nothing of the new key
	// stays in the backend.
	GenerateWrapped(ctx context.Context, wrappingKeyURI string, alg Algorithm) (WrappedKey, error)
	// SignWrapped unwraps key inside the backend, signs digest
	// (crypto.Signer semantics: ECDSA → ASN.1 DER; RSA PKCS#1 v1.5 or PSS by
	// opts), and discards the unwrapped key. A blob that does not
	// authenticate yields ErrUnwrap; a wrapping key that does not exist
	// (any more) yields ErrKeyNotFound.
	SignWrapped(ctx context.Context, wrappingKeyURI string, key WrappedKey, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// KeyWrapperOf returns km's KeyWrapper, if it has one. Through a KeyManager
// returned by Observe it returns a KeyWrapper whose operations are observed
// too ("generate-wrapped", "sign-wrapped").
func KeyWrapperOf(km KeyManager) (KeyWrapper, bool) {
	if o, ok := km.(*observed); ok {
		kw, ok := o.km.(KeyWrapper)
		if !ok {
			return nil, false
		}
		return &observedWrapper{kw: kw, obs: o.obs}, true
	}
	kw, ok := km.(KeyWrapper)
	return kw, ok
}

type observedWrapper struct {
	kw  KeyWrapper
	obs Observer
}

func (o *observedWrapper) GenerateWrapped(ctx context.Context, wrappingKeyURI string, alg Algorithm) (WrappedKey, error) {
	start := time.Now()
	k, err := o.kw.GenerateWrapped(ctx, wrappingKeyURI, alg)
	o.obs("generate-wrapped", alg, time.Since(start), err)
	return k, err
}

func (o *observedWrapper) SignWrapped(ctx context.Context, wrappingKeyURI string, key WrappedKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	start := time.Now()
	sig, err := o.kw.SignWrapped(ctx, wrappingKeyURI, key, digest, opts)
	o.obs("sign-wrapped", key.Algorithm, time.Since(start), err)
	return sig, err
}

// wrappedBindingPrefix separates the binding data of wrapped keys from any
// other additional data sealed under the same key, and versions it.
const wrappedBindingPrefix = "eidp hsm wrapped key v1\x00"

// Binding returns the bytes a backend binds a wrapped blob to (as AEAD
// additional data, for example): a fixed prefix, the algorithm name and the
// DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of Public. It fails if Public
// is not a public key of Algorithm.
func (k WrappedKey) Binding() ([]byte, error) {
	if k.Algorithm.Symmetric() {
		return nil, fmt.Errorf("%w: %s keys are not wrapped signing keys", ErrWrongKeyType, k.Algorithm)
	}
	if got := publicAlgorithm(k.Public); got != k.Algorithm {
		return nil, fmt.Errorf("%w: wrapped key says %s but its public key is %s", ErrUnwrap, k.Algorithm, describePublicKey(k.Public))
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("hsm: encode wrapped key's public key: %w", err)
	}
	b := make([]byte, 0, len(wrappedBindingPrefix)+len(k.Algorithm)+1+len(der))
	b = append(b, wrappedBindingPrefix...)
	b = append(b, k.Algorithm...)
	b = append(b, 0)
	return append(b, der...), nil
}

// Fingerprint is the hex SHA-256 of the DER SubjectPublicKeyInfo of Public,
// a non-secret name for the key ("" if Public cannot be encoded).
func (k WrappedKey) Fingerprint() string {
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// publicAlgorithm names the algorithm of a public key, or "" if it is none of ours.
func publicAlgorithm(pub crypto.PublicKey) Algorithm {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return ECP256
		case elliptic.P384():
			return ECP384
		}
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 2048:
			return RSA2048
		case 3072:
			return RSA3072
		}
	case ed25519.PublicKey:
		if len(pub) == ed25519.PublicKeySize {
			return Ed25519
		}
	}
	return ""
}

func describePublicKey(pub crypto.PublicKey) string {
	if a := publicAlgorithm(pub); a != "" {
		return string(a)
	}
	if pub == nil {
		return "missing"
	}
	return fmt.Sprintf("%T (not one of ours)", pub)
}

// NewWrappedSigner adapts a wrapped key to Signer. Every signature unwraps
// the key in the backend (see KeyWrapper.SignWrapped). URI returns a
// non-secret description, "wrapped:<wrapping key URI>#<SHA-256 of the public
// key's SubjectPublicKeyInfo in hex>", for logs; it is not a key URI any
// KeyManager accepts.
func NewWrappedSigner(kw KeyWrapper, wrappingKeyURI string, key WrappedKey) Signer {
	return &wrappedSigner{
		kw:  kw,
		kek: wrappingKeyURI,
		key: key,
		uri: "wrapped:" + wrappingKeyURI + "#" + key.Fingerprint(),
	}
}

type wrappedSigner struct {
	kw  KeyWrapper
	kek string
	key WrappedKey
	uri string
}

func (s *wrappedSigner) Public() crypto.PublicKey { return s.key.Public }
func (s *wrappedSigner) Algorithm() Algorithm     { return s.key.Algorithm }
func (s *wrappedSigner) URI() string              { return s.uri }

// Sign implements crypto.Signer; the backend supplies the randomness, so
// rand is ignored.
func (s *wrappedSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

func (s *wrappedSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.kw.SignWrapped(ctx, s.kek, s.key, digest, opts)
}
