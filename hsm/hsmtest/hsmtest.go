package hsmtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"

	"eidp/hsm"
)

// Harness lets Run open the backend under test.
type Harness struct {
	// Open opens the backend on the same underlying store every time it is
	// called (so a second Open after Close is a "restart"), calling t.Fatal
	// if it cannot. Run closes every KeyManager it gets: Open must not
	// register a Close with t.Cleanup, because t may be a subtest that ends
	// while the KeyManager is still in use.
	Open func(t *testing.T) hsm.KeyManager
	// OpenWithWrongCredential tries to open the same store with a wrong PIN
	// or wrong master key and returns the error (closing whatever it opened
	// if, wrongly, that succeeded). Run calls it while the store holds at
	// least one key and no KeyManager from Open is open.
	OpenWithWrongCredential func(t *testing.T) error
}

// Run runs the conformance suite. It opens one KeyManager for most
// subtests; the subtests about Close, restarts and credentials come last and
// keep at most one KeyManager open at a time (a PKCS#11 login is shared by the
// whole process, so a second one would hide a wrong PIN). Every subtest uses
// labels of its own and destroys the keys it created.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil || h.OpenWithWrongCredential == nil {
		t.Fatal("hsmtest: Harness.Open and Harness.OpenWithWrongCredential are both required")
	}
	s := &suite{h: h}
	s.km = h.Open(t)
	t.Cleanup(func() {
		if err := s.km.Close(); err != nil && !errors.Is(err, hsm.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"supports the algorithms every backend must have", s.testCapabilities},
		{"creates and describes keys for every algorithm", s.testCreate},
		{"refuses to create keys of unsupported algorithms", s.testCreateUnsupported},
		{"signs with every asymmetric algorithm so that the standard library verifies", s.testSign},
		{"signs concurrently from many goroutines", s.testConcurrentSign},
		{"encrypts and decrypts with AES-256-GCM", s.testEncrypt},
		{"uses a fresh nonce for every encryption", s.testNonceUniqueness},
		{"detects any alteration of sealed data", s.testTamper},
		{"refuses to decrypt with another key", s.testDecryptWrongKey},
		{"refuses operations that do not fit the key type", s.testWrongKeyType},
		{"lists the keys it created", s.testList},
		{"forgets a destroyed key", s.testDestroy},
		{"rejects unknown and malformed URIs", s.testURIs},
		{"keeps keys outside the backend, wrapped (hsm.KeyWrapper)", s.testWrapped},
		// Lifecycle tests close and reopen the backend: keep them last.
		{"keeps keys, signatures and ciphertexts across a restart", s.testRestart},
		{"refuses every operation after Close", s.testAfterClose},
		{"refuses to open with a wrong credential", s.testWrongCredential},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// suite holds the KeyManager currently open. Lifecycle tests replace it;
// cleanups use whichever is current when they run.
type suite struct {
	h  Harness
	km hsm.KeyManager
}

// label returns a label no other test (or earlier run on the same token)
// uses.
func label(what string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "hsmtest-" + what + "-" + hex.EncodeToString(b)
}

// create makes a key and destroys it when the test ends.
func (s *suite) create(t *testing.T, alg hsm.Algorithm, what string) hsm.KeyInfo {
	t.Helper()
	lbl := label(what)
	info, err := s.km.CreateKey(t.Context(), lbl, alg)
	if err != nil {
		t.Fatalf("CreateKey(%q, %s): %v", lbl, alg, err)
	}
	t.Cleanup(func() { s.destroy(t, info.URI) })
	return info
}

// destroy removes a key at cleanup; one the test destroyed itself is fine.
func (s *suite) destroy(t *testing.T, uri string) {
	t.Helper()
	err := s.km.Destroy(context.Background(), uri)
	if err != nil && !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Errorf("cleanup: Destroy(%s): %v", uri, err)
	}
}

func (s *suite) signer(t *testing.T, uri string) hsm.Signer {
	t.Helper()
	sg, err := s.km.Signer(t.Context(), uri)
	if err != nil {
		t.Fatalf("Signer(%s): %v", uri, err)
	}
	return sg
}

func (s *suite) supports(alg hsm.Algorithm) bool {
	return slices.Contains(s.km.Capabilities(), alg)
}

// asymmetric lists the backend's signing algorithms.
func (s *suite) asymmetric() []hsm.Algorithm {
	var algs []hsm.Algorithm
	for _, a := range s.km.Capabilities() {
		if !a.Symmetric() {
			algs = append(algs, a)
		}
	}
	return algs
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

// checkPublic checks that pub is the public key type and size of alg.
func checkPublic(t *testing.T, alg hsm.Algorithm, pub crypto.PublicKey) {
	t.Helper()
	var ok bool
	switch alg {
	case hsm.ECP256, hsm.ECP384:
		curve := map[hsm.Algorithm]elliptic.Curve{hsm.ECP256: elliptic.P256(), hsm.ECP384: elliptic.P384()}[alg]
		k, isEC := pub.(*ecdsa.PublicKey)
		ok = isEC && k.Curve == curve
	case hsm.RSA2048, hsm.RSA3072:
		bits := map[hsm.Algorithm]int{hsm.RSA2048: 2048, hsm.RSA3072: 3072}[alg]
		k, isRSA := pub.(*rsa.PublicKey)
		ok = isRSA && k.N.BitLen() == bits && k.E > 1
	case hsm.Ed25519:
		k, isEd := pub.(ed25519.PublicKey)
		ok = isEd && len(k) == ed25519.PublicKeySize
	case hsm.AES256:
		ok = pub == nil
	}
	if !ok {
		t.Errorf("%s key: public key is %s, not what %s has", alg, describePublic(pub), alg)
	}
}

func describePublic(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case nil:
		return "nil"
	case *ecdsa.PublicKey:
		return "ECDSA on " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return fmt.Sprintf("Ed25519 (%d bytes)", len(k))
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// samePublic reports whether two public keys are equal (both nil for AES).
func samePublic(a, b crypto.PublicKey) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
