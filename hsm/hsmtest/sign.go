package hsmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // register SHA-224/256 for crypto.Hash.New
	_ "crypto/sha512" // register SHA-384/512 for crypto.Hash.New
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"eidp/hsm"
)

// scheme is one way of signing that callers of hsm.Signer rely on, with the
// standard library's verifier for it.
type scheme struct {
	name string
	algs []hsm.Algorithm
	opts crypto.SignerOpts
	// verify checks sig over msg (not a digest) under pub.
	verify func(pub crypto.PublicKey, msg, sig []byte) error
}

var (
	pssEqualsHash = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	pssAuto       = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}
)

var schemes = []scheme{
	{
		name: "ECDSA with SHA-256, ASN.1 DER signature",
		algs: []hsm.Algorithm{hsm.ECP256},
		opts: crypto.SHA256,
		verify: func(pub crypto.PublicKey, msg, sig []byte) error {
			return verifyECDSA(pub, crypto.SHA256, msg, sig)
		},
	},
	{
		name: "ECDSA with SHA-384, ASN.1 DER signature",
		algs: []hsm.Algorithm{hsm.ECP384},
		opts: crypto.SHA384,
		verify: func(pub crypto.PublicKey, msg, sig []byte) error {
			return verifyECDSA(pub, crypto.SHA384, msg, sig)
		},
	},
	{
		name: "RSA PKCS#1 v1.5 with SHA-256",
		algs: []hsm.Algorithm{hsm.RSA2048, hsm.RSA3072},
		opts: crypto.SHA256,
		verify: func(pub crypto.PublicKey, msg, sig []byte) error {
			return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, digest(crypto.SHA256, msg), sig)
		},
	},
	{
		// RFC 7518 §3.5 (JOSE PS256) needs a salt as long as the hash.
		name:   "RSA-PSS with SHA-256 and a salt as long as the hash",
		algs:   []hsm.Algorithm{hsm.RSA2048, hsm.RSA3072},
		opts:   pssEqualsHash,
		verify: verifyPSS,
	},
	{
		// PKCS#11 tokens refuse an automatic salt length; backends map it
		// to the hash length so every backend signs alike.
		name:   "RSA-PSS with an automatic salt length, which means the hash length",
		algs:   []hsm.Algorithm{hsm.RSA2048},
		opts:   pssAuto,
		verify: verifyPSS,
	},
	{
		name: "pure Ed25519 over the whole message",
		algs: []hsm.Algorithm{hsm.Ed25519},
		opts: crypto.Hash(0),
		verify: func(pub crypto.PublicKey, msg, sig []byte) error {
			if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
				return errors.New("ed25519: invalid signature")
			}
			return nil
		},
	},
}

func verifyECDSA(pub crypto.PublicKey, h crypto.Hash, msg, sig []byte) error {
	// VerifyASN1 accepts only ASN.1 DER, the form crypto.Signer promises.
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest(h, msg), sig) {
		return errors.New("ecdsa: invalid ASN.1 signature")
	}
	return nil
}

// verifyPSS checks an RSA-PSS signature with SHA-256 twice: with the salt
// length fixed to the hash length (so a backend using another length fails)
// and with automatic detection, as most verifiers (go-jose among them) do.
func verifyPSS(pub crypto.PublicKey, msg, sig []byte) error {
	d := digest(crypto.SHA256, msg)
	if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d, sig, pssEqualsHash); err != nil {
		return fmt.Errorf("salt length = hash length: %w", err)
	}
	if err := rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d, sig, pssAuto); err != nil {
		return fmt.Errorf("automatic salt length: %w", err)
	}
	return nil
}

// digest returns what a Signer signs for msg: its hash, or msg itself for
// crypto.Hash(0) (Ed25519).
func digest(h crypto.Hash, msg []byte) []byte {
	if h == 0 {
		return msg
	}
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}

// hashFor is the usual hash for signing with alg (0 for Ed25519).
func hashFor(alg hsm.Algorithm) crypto.Hash {
	switch alg {
	case hsm.ECP384:
		return crypto.SHA384
	case hsm.Ed25519:
		return 0
	default:
		return crypto.SHA256
	}
}

// sign signs msg with the scheme's options through SignContext.
func sign(t *testing.T, sg hsm.Signer, opts crypto.SignerOpts, msg []byte) []byte {
	t.Helper()
	sig, err := sg.SignContext(t.Context(), digest(opts.HashFunc(), msg), opts)
	if err != nil {
		t.Fatalf("SignContext(%s, %v): %v", sg.URI(), opts.HashFunc(), err)
	}
	return sig
}

func (s *suite) testSign(t *testing.T) {
	for _, alg := range s.asymmetric() {
		t.Run(string(alg), func(t *testing.T) {
			info := s.create(t, alg, "sign")
			sg := s.signer(t, info.URI)
			if sg.Algorithm() != alg || sg.URI() != info.URI {
				t.Errorf("signer: Algorithm %s, URI %s; want %s, %s", sg.Algorithm(), sg.URI(), alg, info.URI)
			}
			if !samePublic(sg.Public(), info.Public) {
				t.Errorf("signer's public key differs from the key's")
			}
			ran := false
			for _, sc := range schemes {
				if !slices.Contains(sc.algs, alg) {
					continue
				}
				ran = true
				t.Run(sc.name, func(t *testing.T) {
					msg := []byte("message signed by " + info.Label + " with " + sc.name)
					if err := sc.verify(info.Public, msg, sign(t, sg, sc.opts, msg)); err != nil {
						t.Errorf("SignContext: signature does not verify: %v", err)
					}
					// The plain crypto.Signer path, as crypto/x509 and
					// crypto/tls call it.
					sig, err := sg.Sign(rand.Reader, digest(sc.opts.HashFunc(), msg), sc.opts)
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					if err := sc.verify(info.Public, msg, sig); err != nil {
						t.Errorf("Sign: signature does not verify: %v", err)
					}
					altered := append([]byte(nil), msg...)
					altered[0] ^= 0x01
					if err := sc.verify(info.Public, altered, sig); err == nil {
						t.Error("the signature also verifies for an altered message")
					}
				})
			}
			if !ran {
				t.Errorf("no signing scheme tested for %s", alg)
			}
		})
	}
}

func (s *suite) testConcurrentSign(t *testing.T) {
	const goroutines, perGoroutine = 32, 50
	info := s.create(t, hsm.ECP256, "concurrent")
	// One signer shared by all, as servers keep them.
	sg := s.signer(t, info.URI)
	pub := info.Public.(*ecdsa.PublicKey)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	ctx := t.Context()
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				msg := fmt.Appendf(nil, "goroutine %d signature %d", g, i)
				d := digest(crypto.SHA256, msg)
				sig, err := sg.SignContext(ctx, d, crypto.SHA256)
				if err != nil {
					fail("goroutine %d, signature %d: %v", g, i, err)
					return
				}
				if !ecdsa.VerifyASN1(pub, d, sig) {
					fail("goroutine %d, signature %d does not verify", g, i)
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d signatures failed; first: %s", len(failures), goroutines*perGoroutine, failures[0])
	}
}
