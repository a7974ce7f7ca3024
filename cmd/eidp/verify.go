package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"eidp/hsm"
)

var errTestSignature = errors.New("test signature does not verify")

// testSignature makes a signature with s over a fixed message and verifies it
// with the public key: proof that the key backend is usable end to end.
func testSignature(ctx context.Context, s hsm.Signer) error {
	msg := []byte("eidp readiness probe")
	if s.Algorithm() == hsm.Ed25519 {
		sig, err := s.SignContext(ctx, msg, crypto.Hash(0))
		if err != nil {
			return err
		}
		if pub, ok := s.Public().(ed25519.PublicKey); !ok || !ed25519.Verify(pub, msg, sig) {
			return errTestSignature
		}
		return nil
	}
	digest := sha256.Sum256(msg)
	sig, err := s.SignContext(ctx, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	switch k := s.Public().(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return errTestSignature
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			return fmt.Errorf("%w: %w", errTestSignature, err)
		}
	default:
		return fmt.Errorf("test signature: unexpected public key type %T", k)
	}
	return nil
}
