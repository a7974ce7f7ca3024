package hsm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"
)

// Algorithm names a key type and size. The names are stable: they are stored
// in the database and accepted on the command line.
type Algorithm string

// The algorithms a backend may support. Every backend supports ECP256,
// ECP384, RSA2048, RSA3072 and AES256; Ed25519 only where the token has it
// (see Capabilities).
const (
	ECP256  Algorithm = "EC-P256"
	ECP384  Algorithm = "EC-P384"
	RSA2048 Algorithm = "RSA-2048"
	RSA3072 Algorithm = "RSA-3072"
	Ed25519 Algorithm = "Ed25519"
	AES256  Algorithm = "AES-256"
)

// AllAlgorithms lists every algorithm name this package knows, in a stable order.
var AllAlgorithms = []Algorithm{ECP256, ECP384, RSA2048, RSA3072, Ed25519, AES256}

// ParseAlgorithm accepts an algorithm name as written by String.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range AllAlgorithms {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: %q (known: EC-P256, EC-P384, RSA-2048, RSA-3072, Ed25519, AES-256)", ErrUnsupportedAlgorithm, s)
}

// Symmetric reports whether keys of this algorithm encrypt rather than sign.
func (a Algorithm) Symmetric() bool { return a == AES256 }

// Sentinel errors shared by every backend. Backends wrap them with %w and add
// what they know; callers compare with errors.Is.
var (
	ErrKeyNotFound          = errors.New("hsm: key not found")
	ErrUnsupportedAlgorithm = errors.New("hsm: unsupported algorithm")
	ErrWrongKeyType         = errors.New("hsm: operation not allowed for this key type")
	ErrInvalidURI           = errors.New("hsm: invalid key URI")
	// ErrDecrypt means ciphertext, nonce or additional data did not
	// authenticate: the data was altered, or the wrong key or AAD was used.
	ErrDecrypt = errors.New("hsm: decryption failed: ciphertext or additional data not authentic")
	// ErrAuth means the backend refused our credential (wrong PIN, wrong master key).
	ErrAuth = errors.New("hsm: authentication to the key backend failed")
	// ErrUnavailable means the backend cannot be used at all in this build or
	// on this machine (for example PKCS#11 without cgo).
	ErrUnavailable = errors.New("hsm: key backend unavailable")
	ErrClosed      = errors.New("hsm: key backend closed")
)

// KeyInfo describes a key held by a backend.
type KeyInfo struct {
	// URI addresses the key: an RFC 7512 "pkcs11:" URI or a "soft:" URI.
	// It never contains a PIN or other secret and may be stored and logged.
	URI       string
	Label     string
	Algorithm Algorithm
	// Public is the public key for asymmetric keys (*ecdsa.PublicKey,
	// *rsa.PublicKey, ed25519.PublicKey), nil for AES keys.
	Public crypto.PublicKey
	// CreatedAt is when the backend created the key, if it knows (zero otherwise).
	CreatedAt time.Time
}

// Signer is a crypto.Signer whose private key stays in the backend. SignContext
// lets callers bound the time a signature may wait for a session.
//
// Digest and options follow crypto.Signer: ECDSA takes a pre-hashed digest and
// returns an ASN.1 DER signature; RSA takes a digest with opts.HashFunc() set and
// uses PKCS#1 v1.5, or PSS when opts is *rsa.PSSOptions; Ed25519 takes the whole
// message with crypto.Hash(0).
type Signer interface {
	crypto.Signer
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	// Algorithm is the key's algorithm.
	Algorithm() Algorithm
	// URI is the key's URI.
	URI() string
}

// KeyManager is the contract every key backend implements: hsm/pkcs11 for
// hardware (and SoftHSM2), hsm/soft for development. Every method that may do
// I/O takes a context. Implementations are safe for concurrent use.
type KeyManager interface {
	// CreateKey generates a new key inside the backend. The label is a
	// human-readable name (for example "oidc-signing-20261129"); the returned
	// URI is the key's identity.
	CreateKey(ctx context.Context, label string, alg Algorithm) (KeyInfo, error)
	// Key returns what the backend knows of the key at uri.
	Key(ctx context.Context, uri string) (KeyInfo, error)
	// Signer returns a signer for an asymmetric key. Signers are cheap to
	// reuse; callers should keep them rather than look keys up per signature.
	Signer(ctx context.Context, uri string) (Signer, error)
	// Encrypt seals plaintext with an AES-256 key using AES-GCM with a fresh
	// random 96-bit nonce; aad is authenticated but not encrypted. The result
	// is nonce || ciphertext || tag.
	Encrypt(ctx context.Context, uri string, plaintext, aad []byte) ([]byte, error)
	// Decrypt opens what Encrypt sealed, with the same aad. Any alteration of
	// the sealed bytes or the aad yields ErrDecrypt.
	Decrypt(ctx context.Context, uri string, sealed, aad []byte) ([]byte, error)
	// List returns every key the backend holds.
	List(ctx context.Context) ([]KeyInfo, error)
	// Destroy deletes the key for good. Data encrypted under an AES key
	// cannot be decrypted afterwards (crypto-shredding relies on this).
	Destroy(ctx context.Context, uri string) error
	// Capabilities lists the algorithms CreateKey accepts on this backend.
	Capabilities() []Algorithm
	// Name identifies the backend in logs and metrics ("soft", "pkcs11").
	Name() string
	// Close releases sessions and handles. Keys stay in the backend.
	Close() error
}

// GCM sizes shared by the backends' Encrypt/Decrypt format.
const (
	GCMNonceSize = 12
	GCMTagSize   = 16
)
