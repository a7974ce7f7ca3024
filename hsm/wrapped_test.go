package hsm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"eidp/hsm"
	"eidp/hsm/soft"
)

func TestKeyWrapperOfSeesThroughObserve(t *testing.T) {
	km, err := soft.Open(t.Context(), soft.Options{Dir: t.TempDir(), MasterKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { km.Close() })
	kek, err := km.CreateKey(t.Context(), "signing-kek", hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	observed := hsm.Observe(km, rec.observe)
	if _, ok := observed.(hsm.KeyWrapper); ok {
		t.Fatal("the observed KeyManager is itself a KeyWrapper; KeyWrapperOf would not be needed")
	}
	kw, ok := hsm.KeyWrapperOf(observed)
	if !ok {
		t.Fatal("KeyWrapperOf(Observe(soft)) found no KeyWrapper")
	}
	key, err := kw.GenerateWrapped(t.Context(), kek.URI, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("observed"))
	sig, err := hsm.NewWrappedSigner(kw, kek.URI, key).Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(key.Public.(*ecdsa.PublicKey), d[:], sig) {
		t.Error("signature does not verify")
	}
	key.Blob[len(key.Blob)-1] ^= 1
	_, signErr := kw.SignWrapped(t.Context(), kek.URI, key, d[:], crypto.SHA256)
	if !errors.Is(signErr, hsm.ErrUnwrap) {
		t.Errorf("altered blob: %v", signErr)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []event{{"generate-wrapped", hsm.ECP256, nil}, {"sign-wrapped", hsm.ECP256, nil}, {"sign-wrapped", hsm.ECP256, signErr}}
	if len(rec.events) != len(want) {
		t.Fatalf("observed %v, want %v", rec.events, want)
	}
	for i, e := range rec.events {
		if e.op != want[i].op || e.alg != want[i].alg || e.err != want[i].err {
			t.Errorf("event %d: %v, want %v", i, e, want[i])
		}
	}

	if kw, ok := hsm.KeyWrapperOf(km); !ok || kw != hsm.KeyWrapper(km) {
		t.Error("KeyWrapperOf(soft) is not the backend itself")
	}
}

func TestWrappedKeyBinding(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := hsm.WrappedKey{Algorithm: hsm.ECP256, Public: p256.Public()}
	a, err := good.Binding()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hsm.WrappedKey{Algorithm: hsm.ECP256, Public: other.Public()}.Binding()
	if bytes.Equal(a, b) {
		t.Error("two public keys have the same binding")
	}
	for _, tc := range []struct {
		name string
		key  hsm.WrappedKey
		want error
	}{
		{"a P-256 key said to be P-384 is refused", hsm.WrappedKey{Algorithm: hsm.ECP384, Public: p256.Public()}, hsm.ErrUnwrap},
		{"a key without a public key is refused", hsm.WrappedKey{Algorithm: hsm.ECP256}, hsm.ErrUnwrap},
		{"an AES key is refused", hsm.WrappedKey{Algorithm: hsm.AES256}, hsm.ErrWrongKeyType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.key.Binding(); !errors.Is(err, tc.want) {
				t.Errorf("Binding: %v, want %v", err, tc.want)
			}
		})
	}
	if fp := good.Fingerprint(); len(fp) != 64 {
		t.Errorf("Fingerprint %q is not 64 hex digits", fp)
	}
	if fp := (hsm.WrappedKey{}).Fingerprint(); fp != "" {
		t.Errorf("Fingerprint of no key = %q", fp)
	}
}
