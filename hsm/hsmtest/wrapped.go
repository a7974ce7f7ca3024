package hsmtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"eidp/hsm"
)

// wrappedAlgorithms are the algorithms of residents' wrapped keys the suite
// tests, when the backend has them: ECDSA (residents' keys) and RSA-2048.
var wrappedAlgorithms = []hsm.Algorithm{hsm.ECP256, hsm.ECP384, hsm.RSA2048}

// testWrapped runs the hsm.KeyWrapper conformance tests.
func (s *suite) testWrapped(t *testing.T) {
	// Every eidp key backend must keep wrapped keys: residents' signing
	// keys exist only that way (signing/ca).
	if _, ok := hsm.KeyWrapperOf(s.km); !ok {
		t.Fatalf("%s does not implement hsm.KeyWrapper", s.km.Name())
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"generates wrapped keys that sign so that the standard library verifies", s.testWrappedSign},
		{"gives every wrapped key a new key pair", s.testWrappedDistinct},
		{"signs through NewWrappedSigner", s.testWrappedSigner},
		{"refuses an altered blob", s.testWrappedTamper},
		{"refuses a blob presented with another key's public key or algorithm", s.testWrappedBinding},
		{"refuses a blob under another wrapping key", s.testWrappedWrongKEK},
		{"cannot sign once the wrapping key is destroyed", s.testWrappedShredded},
		{"refuses wrapping keys and algorithms that do not fit", s.testWrappedWrongUsage},
		{"keeps no object per wrapped key", s.testWrappedNoObjects},
		{"signs with many wrapped keys concurrently", s.testWrappedConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func (s *suite) wrapper(t *testing.T) hsm.KeyWrapper {
	t.Helper()
	kw, _ := hsm.KeyWrapperOf(s.km)
	return kw
}

func (s *suite) generateWrapped(t *testing.T, kek string, alg hsm.Algorithm) hsm.WrappedKey {
	t.Helper()
	key, err := s.wrapper(t).GenerateWrapped(t.Context(), kek, alg)
	if err != nil {
		t.Fatalf("GenerateWrapped(%s): %v", alg, err)
	}
	return key
}

// signWrappedAndVerify signs msg with SHA-256 (SHA-384 for P-384) and checks the
// signature verifies.
func (s *suite) signWrappedAndVerify(t *testing.T, kek string, key hsm.WrappedKey, msg []byte) {
	t.Helper()
	h := hashFor(key.Algorithm)
	sig, err := s.wrapper(t).SignWrapped(t.Context(), kek, key, digest(h, msg), h)
	if err != nil {
		t.Fatalf("SignWrapped(%s): %v", key.Algorithm, err)
	}
	if err := verifyWith(key.Algorithm, key.Public, h, msg, sig); err != nil {
		t.Fatalf("SignWrapped(%s): signature does not verify: %v", key.Algorithm, err)
	}
}

// verifyWith checks a signature of msg with hash h under a key of alg, with
// the first scheme that fits (ECDSA DER, RSA PKCS#1 v1.5).
func verifyWith(alg hsm.Algorithm, pub crypto.PublicKey, h crypto.Hash, msg, sig []byte) error {
	for _, sc := range schemes {
		if sc.opts == h && slices.Contains(sc.algs, alg) {
			return sc.verify(pub, msg, sig)
		}
	}
	return fmt.Errorf("no verifier for %s with %v", alg, h)
}

func (s *suite) wrappedAlgorithms() []hsm.Algorithm {
	var algs []hsm.Algorithm
	for _, a := range wrappedAlgorithms {
		if s.supports(a) {
			algs = append(algs, a)
		}
	}
	return algs
}

func (s *suite) testWrappedSign(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	for _, alg := range s.wrappedAlgorithms() {
		t.Run(string(alg), func(t *testing.T) {
			key := s.generateWrapped(t, kek.URI, alg)
			if key.Algorithm != alg {
				t.Errorf("GenerateWrapped(%s) returned a %s key", alg, key.Algorithm)
			}
			checkPublic(t, alg, key.Public)
			if len(key.Blob) == 0 {
				t.Fatal("GenerateWrapped returned an empty blob")
			}
			ran := false
			for _, sc := range schemes {
				if !slices.Contains(sc.algs, alg) {
					continue
				}
				ran = true
				t.Run(sc.name, func(t *testing.T) {
					msg := []byte("signed with a wrapped " + string(alg) + " key, " + sc.name)
					sig, err := s.wrapper(t).SignWrapped(t.Context(), kek.URI, key, digest(sc.opts.HashFunc(), msg), sc.opts)
					if err != nil {
						t.Fatalf("SignWrapped: %v", err)
					}
					if err := sc.verify(key.Public, msg, sig); err != nil {
						t.Errorf("signature does not verify: %v", err)
					}
					altered := bytes.Clone(msg)
					altered[0] ^= 1
					if sc.verify(key.Public, altered, sig) == nil {
						t.Error("the signature also verifies for an altered message")
					}
				})
			}
			if !ran {
				t.Errorf("no signing scheme tested for %s", alg)
			}
			// The key signs again: the backend discarded only its
			// unwrapped copy, not the ability to unwrap.
			s.signWrappedAndVerify(t, kek.URI, key, []byte("second signature"))
		})
	}
}

func (s *suite) testWrappedDistinct(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	a := s.generateWrapped(t, kek.URI, hsm.ECP256)
	b := s.generateWrapped(t, kek.URI, hsm.ECP256)
	if samePublic(a.Public, b.Public) {
		t.Error("two GenerateWrapped calls returned the same public key")
	}
	if bytes.Equal(a.Blob, b.Blob) {
		t.Error("two GenerateWrapped calls returned the same blob")
	}
}

func (s *suite) testWrappedSigner(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	key := s.generateWrapped(t, kek.URI, hsm.ECP256)
	sg := hsm.NewWrappedSigner(s.wrapper(t), kek.URI, key)
	if sg.Algorithm() != hsm.ECP256 || !samePublic(sg.Public(), key.Public) {
		t.Errorf("signer: %s %s; want the wrapped key's", sg.Algorithm(), describePublic(sg.Public()))
	}
	if want := "wrapped:" + kek.URI + "#" + key.Fingerprint(); sg.URI() != want || len(key.Fingerprint()) != 64 {
		t.Errorf("URI() = %q, want %q", sg.URI(), want)
	}
	msg := []byte("through crypto.Signer")
	d := digest(crypto.SHA256, msg)
	sig, err := sg.Sign(rand.Reader, d, crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := verifyECDSA(key.Public, crypto.SHA256, msg, sig); err != nil {
		t.Errorf("Sign: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sg.SignContext(ctx, d, crypto.SHA256); !errors.Is(err, context.Canceled) {
		t.Errorf("SignContext with a cancelled context: got %v, want context.Canceled", err)
	}
}

func (s *suite) testWrappedTamper(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	key := s.generateWrapped(t, kek.URI, hsm.ECP256)
	d := digest(crypto.SHA256, []byte("tampered"))
	try := func(what string, blob []byte) {
		t.Helper()
		k := key
		k.Blob = blob
		_, err := s.wrapper(t).SignWrapped(t.Context(), kek.URI, k, d, crypto.SHA256)
		wantErr(t, what, err, hsm.ErrUnwrap)
	}
	n := len(key.Blob)
	for _, i := range []int{0, 1, n / 2, n - 1} {
		b := bytes.Clone(key.Blob)
		b[i] ^= 0x01
		try(fmt.Sprintf("blob with byte %d of %d flipped", i, n), b)
	}
	try("blob cut by one byte", key.Blob[:n-1])
	try("blob cut in half", key.Blob[:n/2])
	try("blob with a byte appended", append(bytes.Clone(key.Blob), 0))
	try("empty blob", nil)
	// The original still works: failures changed nothing.
	s.signWrappedAndVerify(t, kek.URI, key, []byte("untouched"))
}

func (s *suite) testWrappedBinding(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	a := s.generateWrapped(t, kek.URI, hsm.ECP256)
	b := s.generateWrapped(t, kek.URI, hsm.ECP256)
	d := digest(crypto.SHA256, []byte("swapped"))
	swapped := hsm.WrappedKey{Algorithm: a.Algorithm, Public: b.Public, Blob: a.Blob}
	_, err := s.wrapper(t).SignWrapped(t.Context(), kek.URI, swapped, d, crypto.SHA256)
	wantErr(t, "blob of key A with the public key of key B", err, hsm.ErrUnwrap)

	p384 := s.generateWrapped(t, kek.URI, hsm.ECP384)
	mislabelled := hsm.WrappedKey{Algorithm: hsm.ECP256, Public: p384.Public, Blob: p384.Blob}
	if _, err := s.wrapper(t).SignWrapped(t.Context(), kek.URI, mislabelled, d, crypto.SHA256); err == nil {
		t.Error("a P-384 key presented as EC-P256 signed")
	}
	if _, err := s.wrapper(t).SignWrapped(t.Context(), kek.URI, hsm.WrappedKey{Algorithm: hsm.ECP256, Blob: a.Blob}, d, crypto.SHA256); err == nil {
		t.Error("a wrapped key without a public key signed")
	}
}

func (s *suite) testWrappedWrongKEK(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	other := s.create(t, hsm.AES256, "other-kek")
	key := s.generateWrapped(t, kek.URI, hsm.ECP256)
	d := digest(crypto.SHA256, []byte("wrong kek"))
	_, err := s.wrapper(t).SignWrapped(t.Context(), other.URI, key, d, crypto.SHA256)
	wantErr(t, "SignWrapped under another AES key", err, hsm.ErrUnwrap)
}

func (s *suite) testWrappedShredded(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek-shred")
	key := s.generateWrapped(t, kek.URI, hsm.ECP256)
	s.signWrappedAndVerify(t, kek.URI, key, []byte("before"))
	if err := s.km.Destroy(t.Context(), kek.URI); err != nil {
		t.Fatalf("Destroy(wrapping key): %v", err)
	}
	d := digest(crypto.SHA256, []byte("after"))
	_, err := s.wrapper(t).SignWrapped(t.Context(), kek.URI, key, d, crypto.SHA256)
	wantErr(t, "SignWrapped after the wrapping key was destroyed", err, hsm.ErrKeyNotFound)
	_, err = s.wrapper(t).GenerateWrapped(t.Context(), kek.URI, hsm.ECP256)
	wantErr(t, "GenerateWrapped under a destroyed wrapping key", err, hsm.ErrKeyNotFound)
}

func (s *suite) testWrappedWrongUsage(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	ec := s.create(t, hsm.ECP256, "not-a-kek")
	kw := s.wrapper(t)
	ctx := t.Context()
	_, err := kw.GenerateWrapped(ctx, ec.URI, hsm.ECP256)
	wantErr(t, "GenerateWrapped under an EC key", err, hsm.ErrWrongKeyType)
	_, err = kw.GenerateWrapped(ctx, kek.URI, hsm.AES256)
	wantErr(t, "GenerateWrapped of an AES key", err, hsm.ErrUnsupportedAlgorithm)
	_, err = kw.GenerateWrapped(ctx, kek.URI, "DSA-1024")
	wantErr(t, "GenerateWrapped of an unknown algorithm", err, hsm.ErrUnsupportedAlgorithm)
	_, err = kw.GenerateWrapped(ctx, "not a uri", hsm.ECP256)
	wantErr(t, "GenerateWrapped under a malformed URI", err, hsm.ErrInvalidURI)

	key := s.generateWrapped(t, kek.URI, hsm.ECP256)
	d := digest(crypto.SHA256, []byte("usage"))
	_, err = kw.SignWrapped(ctx, ec.URI, key, d, crypto.SHA256)
	wantErr(t, "SignWrapped under an EC key", err, hsm.ErrWrongKeyType)
	if _, err := kw.SignWrapped(ctx, kek.URI, key, d[:20], crypto.SHA256); err == nil {
		t.Error("SignWrapped accepted a 20-byte digest declared SHA-256")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = kw.GenerateWrapped(cancelled, kek.URI, hsm.ECP256)
	wantErr(t, "GenerateWrapped with a cancelled context", err, context.Canceled)
}

// testWrappedNoObjects checks the point of wrapping: the backend holds as
// many keys after 100 residents' keys as before.
func (s *suite) testWrappedNoObjects(t *testing.T) {
	kek := s.create(t, hsm.AES256, "kek")
	before, err := s.km.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for i := range 100 {
		key := s.generateWrapped(t, kek.URI, hsm.ECP256)
		s.signWrappedAndVerify(t, kek.URI, key, fmt.Appendf(nil, "resident %d", i))
	}
	after, err := s.km.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(after) != len(before) {
		t.Errorf("the backend held %d keys before 100 wrapped keys were generated and used, %d after", len(before), len(after))
	}
}

func (s *suite) testWrappedConcurrent(t *testing.T) {
	const goroutines, perGoroutine = 8, 25
	kek := s.create(t, hsm.AES256, "kek")
	keys := make([]hsm.WrappedKey, 16)
	for i := range keys {
		keys[i] = s.generateWrapped(t, kek.URI, hsm.ECP256)
	}
	kw := s.wrapper(t)
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
				key := keys[(g*perGoroutine+i)%len(keys)]
				d := digest(crypto.SHA256, fmt.Appendf(nil, "goroutine %d signature %d", g, i))
				sig, err := kw.SignWrapped(ctx, kek.URI, key, d, crypto.SHA256)
				if err != nil {
					fail("goroutine %d, signature %d: %v", g, i, err)
					return
				}
				if !ecdsa.VerifyASN1(key.Public.(*ecdsa.PublicKey), d, sig) {
					fail("goroutine %d, signature %d does not verify under its key", g, i)
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d signatures failed; first: %s", len(failures), goroutines*perGoroutine, failures[0])
	}
}
