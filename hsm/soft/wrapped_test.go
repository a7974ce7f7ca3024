package soft_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"testing"

	"eidp/hsm"
	"eidp/hsm/hsmtest"
	"eidp/hsm/soft"
)

// BenchmarkWrapped: GenerateWrapped and SignWrapped on the soft backend, and
// SignWrapped with a random one of 10,000 residents' keys.
func BenchmarkWrapped(b *testing.B) {
	s, err := soft.Open(b.Context(), soft.Options{Dir: b.TempDir(), MasterKey: newMasterKey()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	hsmtest.BenchWrapped(b, s, 10_000)
}

// FuzzSignWrapped feeds SignWrapped blobs from the database, which an
// attacker may have written: anything but the blob GenerateWrapped made must
// fail with hsm.ErrUnwrap, and nothing may panic.
func FuzzSignWrapped(f *testing.F) {
	s, err := soft.Open(f.Context(), soft.Options{Dir: f.TempDir(), MasterKey: newMasterKey()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	kek, err := s.CreateKey(f.Context(), "fuzz-kek", hsm.AES256)
	if err != nil {
		f.Fatal(err)
	}
	key, err := s.GenerateWrapped(f.Context(), kek.URI, hsm.ECP256)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key.Blob)
	f.Add(key.Blob[:1])
	f.Add([]byte{})
	f.Add(append(bytes.Clone(key.Blob), 0))
	d := sha256.Sum256([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, blob []byte) {
		k := key
		k.Blob = blob
		_, err := s.SignWrapped(t.Context(), kek.URI, k, d[:], crypto.SHA256)
		if bytes.Equal(blob, key.Blob) {
			if err != nil {
				t.Fatalf("the genuine blob: %v", err)
			}
			return
		}
		if !errors.Is(err, hsm.ErrUnwrap) {
			t.Fatalf("blob %x: got %v, want hsm.ErrUnwrap", blob, err)
		}
	})
}
