package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // SHA-256 for ES256, RS256, PS256 and thumbprints
	_ "crypto/sha512" // SHA-384 and SHA-512 for the *384 and *512 algorithms
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// OpaqueSigner adapts a backend Signer to go-jose's OpaqueSigner, so that
// go-jose (and zitadel/oidc through it) signs JWS and JWTs with a key that
// never leaves the backend.
//
// The algorithms offered follow the key (RFC 7518 §3.1): ES256 for P-256,
// ES384 for P-384, RS256/RS384/RS512 and PS256/PS384/PS512 for RSA of at
// least 2048 bits, EdDSA (RFC 8037) for Ed25519. The public JWK has Use "sig"
// and, as KeyID, its RFC 7638 thumbprint (SHA-256, base64url); use
// OpaqueSignerWithKeyID to choose another.
//
// SignPayload takes no context: each signature waits as long as s.Sign does.
func OpaqueSigner(s Signer) (jose.OpaqueSigner, error) {
	return newOpaqueSigner(s, "")
}

// OpaqueSignerWithKeyID is OpaqueSigner with the JWK's KeyID (the JWS "kid"
// header) set to keyID instead of the key's thumbprint.
func OpaqueSignerWithKeyID(s Signer, keyID string) (jose.OpaqueSigner, error) {
	if keyID == "" {
		return nil, errors.New("hsm: OpaqueSignerWithKeyID needs a non-empty key ID")
	}
	return newOpaqueSigner(s, keyID)
}

// opaqueSigner implements jose.OpaqueSigner over a Signer.
type opaqueSigner struct {
	signer Signer
	jwk    jose.JSONWebKey
	algs   []jose.SignatureAlgorithm
	// ecSize is the byte length of r and of s in a JWS ECDSA signature
	// (RFC 7518 §3.4); 0 for other keys.
	ecSize int
}

func newOpaqueSigner(s Signer, keyID string) (*opaqueSigner, error) {
	if s == nil {
		return nil, errors.New("hsm: OpaqueSigner needs a signer")
	}
	o := &opaqueSigner{signer: s}
	pub := s.Public()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// RFC 7518 §3.4: ES256 is P-256 with SHA-256, ES384 P-384 with SHA-384.
		switch k.Curve {
		case elliptic.P256():
			o.algs, o.ecSize = []jose.SignatureAlgorithm{jose.ES256}, 32
		case elliptic.P384():
			o.algs, o.ecSize = []jose.SignatureAlgorithm{jose.ES384}, 48
		default:
			return nil, fmt.Errorf("hsm: %w: no JWS algorithm for ECDSA on %s", ErrUnsupportedAlgorithm, k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		// RFC 7518 §3.3 and §3.5: keys of 2048 bits or more.
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("hsm: %w: RSA key of %d bits; JWS needs at least 2048", ErrUnsupportedAlgorithm, k.N.BitLen())
		}
		o.algs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512}
	case ed25519.PublicKey:
		o.algs = []jose.SignatureAlgorithm{jose.EdDSA}
	default:
		return nil, fmt.Errorf("hsm: %w: no JWS algorithm for public key type %T", ErrUnsupportedAlgorithm, pub)
	}

	o.jwk = jose.JSONWebKey{Key: pub, Use: "sig"}
	if len(o.algs) == 1 {
		// The key allows one algorithm only: say so (RFC 7517 §4.4).
		o.jwk.Algorithm = string(o.algs[0])
	}
	if keyID == "" {
		thumb, err := o.jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("hsm: JWK thumbprint: %w", err)
		}
		keyID = base64.RawURLEncoding.EncodeToString(thumb)
	}
	o.jwk.KeyID = keyID
	if !o.jwk.Valid() {
		return nil, fmt.Errorf("hsm: public key of %s is not a valid JWK", s.URI())
	}
	return o, nil
}

// Public returns the public JWK. Callers get a copy they may change.
func (o *opaqueSigner) Public() *jose.JSONWebKey {
	k := o.jwk
	return &k
}

// Algs lists the JWS algorithms the key can sign with.
func (o *opaqueSigner) Algs() []jose.SignatureAlgorithm { return slices.Clone(o.algs) }

// SignPayload signs the JWS signing input with alg and returns the signature
// in JWS form.
func (o *opaqueSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if !slices.Contains(o.algs, alg) {
		return nil, fmt.Errorf("hsm: %w: JWS algorithm %q with %s key %s (it offers %v)",
			ErrUnsupportedAlgorithm, alg, o.signer.Algorithm(), o.signer.URI(), o.algs)
	}
	if alg == jose.EdDSA {
		// RFC 8037 §3.1: pure Ed25519 over the signing input itself.
		return o.sign(payload, crypto.Hash(0))
	}
	h := jwsHash(alg)
	hh := h.New()
	hh.Write(payload)
	digest := hh.Sum(nil)
	switch alg {
	case jose.ES256, jose.ES384:
		der, err := o.sign(digest, h)
		if err != nil {
			return nil, err
		}
		return ecdsaDERToJWS(der, o.ecSize)
	case jose.PS256, jose.PS384, jose.PS512:
		// RFC 7518 §3.5: the salt is as long as the hash output.
		return o.sign(digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
	default: // RS256, RS384, RS512: RSASSA-PKCS1-v1_5 (RFC 7518 §3.3)
		return o.sign(digest, h)
	}
}

func (o *opaqueSigner) sign(digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := o.signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("hsm: JWS signature: %w", err)
	}
	return sig, nil
}

// jwsHash is the hash function of a JWS RSA or ECDSA algorithm.
func jwsHash(alg jose.SignatureAlgorithm) crypto.Hash {
	switch alg {
	case jose.ES384, jose.RS384, jose.PS384:
		return crypto.SHA384
	case jose.RS512, jose.PS512:
		return crypto.SHA512
	default:
		return crypto.SHA256
	}
}

// ecdsaDERToJWS converts an ASN.1 DER ECDSA signature (SEC 1 §C.5:
// SEQUENCE { r INTEGER, s INTEGER }) to the JWS form of RFC 7518 §3.4: r and
// s as big-endian unsigned integers of size bytes each, concatenated.
func ecdsaDERToJWS(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil {
		return nil, fmt.Errorf("hsm: ECDSA signature is not ASN.1 DER: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("hsm: ECDSA signature has trailing bytes after its ASN.1 DER")
	}
	out := make([]byte, 2*size)
	for i, v := range []*big.Int{sig.R, sig.S} {
		if v.Sign() <= 0 || v.BitLen() > 8*size {
			return nil, fmt.Errorf("hsm: ECDSA signature value out of range for a %d-byte curve", size)
		}
		v.FillBytes(out[i*size : (i+1)*size])
	}
	return out, nil
}
