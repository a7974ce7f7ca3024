package soft

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"eidp/hsm"
)

// signer signs with a cached key. It takes no lock: the key is immutable,
// and Close and Destroy are seen through atomic flags.
type signer struct {
	s *Soft
	k *softKey
}

var _ hsm.Signer = (*signer)(nil)

func (g *signer) Public() crypto.PublicKey { return g.k.info.Public }
func (g *signer) Algorithm() hsm.Algorithm { return g.k.info.Algorithm }
func (g *signer) URI() string              { return g.k.info.URI }

// Sign implements crypto.Signer. The random source is always crypto/rand, as
// in a hardware module: the rand argument is ignored.
func (g *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return g.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest as described by hsm.Signer.
func (g *signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if g.s.closed.Load() {
		return nil, hsm.ErrClosed
	}
	if g.k.destroyed.Load() {
		return nil, fmt.Errorf("soft: %w: %s was destroyed", hsm.ErrKeyNotFound, g.k.info.URI)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("soft: sign: %w", err)
	}
	if opts == nil {
		return nil, errors.New("soft: sign: no signer options (pass a crypto.Hash, *rsa.PSSOptions or crypto.Hash(0) for Ed25519)")
	}
	var (
		sig []byte
		err error
	)
	switch priv := g.k.signer.(type) {
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
		return nil, fmt.Errorf("soft: sign with %s: %w", g.k.info.URI, err)
	}
	return sig, nil
}

// signECDSA returns an ASN.1 DER signature (SEC 1 §C.5, RFC 3279 §2.2.3),
// what crypto.Signer callers expect; JOSE converts it at its own edge.
func signECDSA(priv *ecdsa.PrivateKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if h := opts.HashFunc(); h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("digest is %d bytes; %v digests are %d", len(digest), h, h.Size())
	}
	return ecdsa.SignASN1(rand.Reader, priv, digest)
}

// signRSA signs with PKCS#1 v1.5, or PSS when opts is *rsa.PSSOptions
// (RFC 8017 §8.2 and §8.1).
func signRSA(priv *rsa.PrivateKey, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if h == 0 {
		return nil, fmt.Errorf("%w: RSA signing needs the digest's hash function in opts", hsm.ErrUnsupportedAlgorithm)
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		o := *pss
		// PKCS#11 tokens refuse an automatic salt length (the signer must
		// name it in CK_RSA_PKCS_PSS_PARAMS); map it the way hsm/pkcs11
		// does so both backends produce the same kind of signature. The
		// hash length is also what JOSE PS256 needs (RFC 7518 §3.5).
		if o.SaltLength == rsa.PSSSaltLengthAuto {
			o.SaltLength = rsa.PSSSaltLengthEqualsHash
		}
		return rsa.SignPSS(rand.Reader, priv, h, digest, &o)
	}
	return rsa.SignPKCS1v15(rand.Reader, priv, h, digest)
}

// signEd25519 signs the whole message with pure Ed25519 (RFC 8032 §5.1.6).
// Ed25519ph and Ed25519ctx are refused: PKCS#11 tokens commonly lack them.
func signEd25519(priv ed25519.PrivateKey, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if h := opts.HashFunc(); h != 0 {
		return nil, fmt.Errorf("%w: Ed25519 signs the whole message (crypto.Hash(0)), not a %v digest", hsm.ErrUnsupportedAlgorithm, h)
	}
	if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
		return nil, fmt.Errorf("%w: Ed25519ctx (a context string) is not supported", hsm.ErrUnsupportedAlgorithm)
	}
	return ed25519.Sign(priv, message), nil
}
