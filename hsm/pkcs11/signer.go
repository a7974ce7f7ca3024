//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
)

// signer is a hsm.Signer for one token key. It keeps the CKA_ID, not the
// object handle: the handle comes from the backend's cache, so Destroy and a
// stale handle are noticed, and no signature searches the token.
type signer struct {
	b   *Backend
	id  string
	alg hsm.Algorithm
	uri string
	pub crypto.PublicKey
}

var _ hsm.Signer = (*signer)(nil)

// Signer returns a signer for the EC, RSA or Ed25519 key at uri. An AES key
// yields hsm.ErrWrongKeyType.
func (b *Backend) Signer(ctx context.Context, uri string) (hsm.Signer, error) {
	if b.closed.Load() {
		return nil, b.errClosed()
	}
	u, err := b.parseKeyURI(uri)
	if err != nil {
		return nil, err
	}
	e, err := b.lookup(ctx, u)
	if err != nil {
		return nil, err
	}
	if e.alg.Symmetric() {
		return nil, fmt.Errorf("pkcs11: %w: %s is an %s key and cannot sign", hsm.ErrWrongKeyType, e.uri, e.alg)
	}
	if e.public == nil {
		return nil, fmt.Errorf("pkcs11: token %q: key %s has no public-key object with its CKA_ID", b.token.Label, e.uri)
	}
	return &signer{b: b, id: e.id, alg: e.alg, uri: e.uri, pub: e.public}, nil
}

func (s *signer) Public() crypto.PublicKey { return s.pub }
func (s *signer) Algorithm() hsm.Algorithm { return s.alg }
func (s *signer) URI() string              { return s.uri }

// Sign implements crypto.Signer; rand is unused (the token has its own RNG).
func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs like Sign; ctx bounds the wait for a session.
func (s *signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mech, input, err := s.mechanism(digest, opts)
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.b.withKey(ctx, s.id, func(h p11.SessionHandle, e *keyEntry) error {
		if e.alg != s.alg {
			return fmt.Errorf("%w: key is now %s", hsm.ErrWrongKeyType, e.alg)
		}
		// PKCS #11 v2.40 Base §5.11: C_SignInit then single-part C_Sign,
		// which ends the operation whether or not it succeeds.
		if err := s.b.mod.ctx.SignInit(h, []*p11.Mechanism{mech}, e.handle); err != nil {
			return fmt.Errorf("C_SignInit: %w", err)
		}
		out, err := s.b.mod.ctx.Sign(h, input)
		if err != nil {
			return fmt.Errorf("C_Sign: %w", err)
		}
		sig = out
		return nil
	})
	if err != nil {
		if errors.Is(err, hsm.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, fmt.Errorf("pkcs11: token %q: signing with %s: %w", s.b.token.Label, s.uri, err)
	}
	if s.alg == hsm.ECP256 || s.alg == hsm.ECP384 {
		return ecdsaDER(sig, curveSize(s.alg))
	}
	return sig, nil
}

// pssHashes maps a hash to its PKCS #11 mechanism and MGF1 variant
// (PKCS #11 v2.40 Current Mechanisms §2.1.9 CK_RSA_PKCS_PSS_PARAMS).
var pssHashes = map[crypto.Hash]struct{ mech, mgf uint }{
	crypto.SHA256: {p11.CKM_SHA256, p11.CKG_MGF1_SHA256},
	crypto.SHA384: {p11.CKM_SHA384, p11.CKG_MGF1_SHA384},
	crypto.SHA512: {p11.CKM_SHA512, p11.CKG_MGF1_SHA512},
}

// mechanism chooses the mechanism and the bytes to hand to C_Sign.
func (s *signer) mechanism(digest []byte, opts crypto.SignerOpts) (*p11.Mechanism, []byte, error) {
	var hash crypto.Hash
	if opts != nil {
		hash = opts.HashFunc()
	}
	switch s.alg {
	case hsm.ECP256, hsm.ECP384:
		// CKM_ECDSA signs the caller's digest as is (PKCS #11 v2.40 Current
		// Mechanisms §2.3.6 "ECDSA without hashing"); SoftHSM has no
		// combined hash-and-sign ECDSA.
		if len(digest) == 0 {
			return nil, nil, errors.New("pkcs11: ECDSA needs a non-empty digest")
		}
		if hash != 0 && len(digest) != hash.Size() {
			return nil, nil, fmt.Errorf("pkcs11: digest has %d bytes, %v needs %d", len(digest), hash, hash.Size())
		}
		return p11.NewMechanism(p11.CKM_ECDSA, nil), digest, nil
	case hsm.RSA2048, hsm.RSA3072:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			h, ok := pssHashes[hash]
			if !ok {
				return nil, nil, fmt.Errorf("pkcs11: %w: RSA-PSS with hash %v (want SHA-256, SHA-384 or SHA-512)", hsm.ErrUnsupportedAlgorithm, hash)
			}
			if len(digest) != hash.Size() {
				return nil, nil, fmt.Errorf("pkcs11: digest has %d bytes, %v needs %d", len(digest), hash, hash.Size())
			}
			salt, err := pssSaltLength(pss, hash)
			if err != nil {
				return nil, nil, err
			}
			// CKM_RSA_PKCS_PSS (v2.40 Current Mechanisms §2.1.10) takes the
			// digest; MGF1 uses the same hash, as RFC 8017 §9.1 recommends.
			return p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(h.mech, h.mgf, uint(salt))), digest, nil
		}
		di, err := digestInfo(hash, digest)
		if err != nil {
			return nil, nil, err
		}
		// CKM_RSA_PKCS (v2.40 Current Mechanisms §2.1.6) pads the DigestInfo
		// as EMSA-PKCS1-v1_5 block type 1.
		return p11.NewMechanism(p11.CKM_RSA_PKCS, nil), di, nil
	case hsm.Ed25519:
		// Pure Ed25519 (RFC 8032 §5.1.6) over the whole message: CKM_EDDSA
		// without CK_EDDSA_PARAMS (PKCS #11 v3.0 Current Mechanisms).
		if hash != 0 {
			return nil, nil, fmt.Errorf("pkcs11: Ed25519 signs the whole message: opts.HashFunc() must be 0, not %v", hash)
		}
		if eo, ok := opts.(*ed25519.Options); ok && eo.Context != "" {
			return nil, nil, fmt.Errorf("pkcs11: %w: Ed25519ctx (a context string)", hsm.ErrUnsupportedAlgorithm)
		}
		return p11.NewMechanism(ckmEdDSA, nil), digest, nil
	}
	return nil, nil, fmt.Errorf("pkcs11: %w: cannot sign with %s", hsm.ErrWrongKeyType, s.alg)
}
