package hsmtest

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"slices"
	"testing"

	"eidp/hsm"
)

// reopen closes the current KeyManager and opens the store again.
func (s *suite) reopen(t *testing.T) {
	t.Helper()
	if err := s.km.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s.km = s.h.Open(t)
}

func (s *suite) testRestart(t *testing.T) {
	ctx := t.Context()
	type signed struct {
		info hsm.KeyInfo
		opts crypto.SignerOpts
		msg  []byte
		sig  []byte
	}
	var before []signed
	for _, alg := range []hsm.Algorithm{hsm.ECP256, hsm.RSA2048, hsm.Ed25519} {
		if !s.supports(alg) {
			continue
		}
		info := s.create(t, alg, "restart")
		opts := hashFor(alg)
		msg := []byte("signed before the restart by " + info.Label)
		before = append(before, signed{info, opts, msg, sign(t, s.signer(t, info.URI), opts, msg)})
	}
	aes := s.create(t, hsm.AES256, "restart")
	plaintext, aad := []byte("sealed before the restart"), []byte("restart")
	sealed, err := s.km.Encrypt(ctx, aes.URI, plaintext, aad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}

	s.reopen(t)

	for _, b := range before {
		info, err := s.km.Key(ctx, b.info.URI)
		if err != nil {
			t.Errorf("Key(%s) after restart: %v", b.info.URI, err)
			continue
		}
		if info.Label != b.info.Label || info.Algorithm != b.info.Algorithm || !samePublic(info.Public, b.info.Public) {
			t.Errorf("after restart %s is {%q, %s, %s}; before it was {%q, %s, %s}", b.info.URI,
				info.Label, info.Algorithm, describePublic(info.Public),
				b.info.Label, b.info.Algorithm, describePublic(b.info.Public))
		}
		sc := schemeFor(b.info.Algorithm)
		if err := sc.verify(info.Public, b.msg, b.sig); err != nil {
			t.Errorf("%s: a signature made before the restart does not verify with the reopened public key: %v", b.info.Algorithm, err)
		}
		msg := []byte("signed after the restart")
		sg := s.signer(t, b.info.URI)
		if err := sc.verify(b.info.Public, msg, sign(t, sg, b.opts, msg)); err != nil {
			t.Errorf("%s: a signature made after the restart does not verify with the original public key: %v", b.info.Algorithm, err)
		}
	}
	got, err := s.km.Decrypt(ctx, aes.URI, sealed, aad)
	if err != nil {
		t.Errorf("Decrypt after restart of data sealed before: %v", err)
	} else if !bytes.Equal(got, plaintext) {
		t.Error("Decrypt after restart returned other bytes than were sealed")
	}

	list, err := s.km.List(ctx)
	if err != nil {
		t.Fatalf("List after restart: %v", err)
	}
	listed := make(map[string]bool, len(list))
	for _, k := range list {
		listed[k.URI] = true
	}
	for _, b := range append(before, signed{info: aes}) {
		if !listed[b.info.URI] {
			t.Errorf("List after restart does not contain %s", b.info.URI)
		}
	}
}

// schemeFor is the first scheme for alg, the one testRestart uses.
func schemeFor(alg hsm.Algorithm) scheme {
	for _, sc := range schemes {
		if slices.Contains(sc.algs, alg) {
			return sc
		}
	}
	panic("hsmtest: no signing scheme for " + string(alg))
}

func (s *suite) testAfterClose(t *testing.T) {
	ec := s.create(t, hsm.ECP256, "closed")
	aes := s.create(t, hsm.AES256, "closed")
	closed := s.km
	sg := s.signer(t, ec.URI)
	sealed, err := closed.Encrypt(t.Context(), aes.URI, []byte("x"), nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	// Reopen at once, so that the cleanups destroy the keys through an
	// open KeyManager whatever happens below.
	s.reopen(t)

	ctx := context.Background()
	_, err = closed.CreateKey(ctx, label("closed"), hsm.ECP256)
	wantErr(t, "CreateKey after Close", err, hsm.ErrClosed)
	_, err = closed.Key(ctx, ec.URI)
	wantErr(t, "Key after Close", err, hsm.ErrClosed)
	_, err = closed.Signer(ctx, ec.URI)
	wantErr(t, "Signer after Close", err, hsm.ErrClosed)
	d := digest(crypto.SHA256, []byte("m"))
	_, err = sg.SignContext(ctx, d, crypto.SHA256)
	wantErr(t, "SignContext with a signer of a closed KeyManager", err, hsm.ErrClosed)
	_, err = sg.Sign(nil, d, crypto.SHA256)
	wantErr(t, "Sign with a signer of a closed KeyManager", err, hsm.ErrClosed)
	_, err = closed.Encrypt(ctx, aes.URI, []byte("x"), nil)
	wantErr(t, "Encrypt after Close", err, hsm.ErrClosed)
	_, err = closed.Decrypt(ctx, aes.URI, sealed, nil)
	wantErr(t, "Decrypt after Close", err, hsm.ErrClosed)
	_, err = closed.List(ctx)
	wantErr(t, "List after Close", err, hsm.ErrClosed)
	wantErr(t, "Destroy after Close", closed.Destroy(ctx, ec.URI), hsm.ErrClosed)
	if err := closed.Close(); err != nil && !errors.Is(err, hsm.ErrClosed) {
		t.Errorf("Close twice: %v", err)
	}

	// Closing kept the keys.
	if _, err := s.km.Key(ctx, ec.URI); err != nil {
		t.Errorf("Key(%s) after reopening: %v", ec.URI, err)
	}
}

func (s *suite) testWrongCredential(t *testing.T) {
	// A backend can only tell a wrong master key from keys it cannot open:
	// make sure the store is not empty.
	ec := s.create(t, hsm.ECP256, "credential")
	if err := s.km.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := s.h.OpenWithWrongCredential(t)
	s.km = s.h.Open(t)

	if err == nil {
		t.Fatal("the store opened with a wrong credential")
	}
	wantErr(t, "OpenWithWrongCredential", err, hsm.ErrAuth)
	if err.Error() == "" {
		t.Error("the error for a wrong credential has no message")
	}
	// The failed attempt did no harm.
	if _, err := s.km.Key(t.Context(), ec.URI); err != nil {
		t.Errorf("Key(%s) after a wrong-credential attempt: %v", ec.URI, err)
	}
}
