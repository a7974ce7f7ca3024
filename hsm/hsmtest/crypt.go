package hsmtest

import (
	"bytes"
	"testing"

	"eidp/hsm"
)

func (s *suite) testEncrypt(t *testing.T) {
	key := s.create(t, hsm.AES256, "encrypt")
	tests := []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"a short message with additional data", []byte("resident 4711: date of birth"), []byte("vault/v1/resident/4711")},
		{"a message without additional data", []byte("no context"), nil},
		{"an empty message", []byte{}, []byte("only the context is authenticated")},
		{"a 64 KiB message", bytes.Repeat([]byte{0xa5}, 64<<10), []byte("large")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := s.km.Encrypt(t.Context(), key.URI, tc.plaintext, tc.aad)
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			// hsm.KeyManager.Encrypt: nonce(12) || ciphertext || tag(16).
			if want := hsm.GCMNonceSize + len(tc.plaintext) + hsm.GCMTagSize; len(sealed) != want {
				t.Errorf("sealed %d bytes into %d; want %d (nonce || ciphertext || tag)", len(tc.plaintext), len(sealed), want)
			}
			if len(tc.plaintext) >= 8 && bytes.Contains(sealed, tc.plaintext) {
				t.Error("the sealed bytes contain the plaintext")
			}
			got, err := s.km.Decrypt(t.Context(), key.URI, sealed, tc.aad)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Decrypt returned %d bytes that differ from the %d encrypted", len(got), len(tc.plaintext))
			}
		})
	}
}

func (s *suite) testNonceUniqueness(t *testing.T) {
	key := s.create(t, hsm.AES256, "nonce")
	const n = 64
	plaintext, aad := []byte("the same message every time"), []byte("aad")
	nonces := make(map[string]bool, n)
	var first []byte
	for i := range n {
		sealed, err := s.km.Encrypt(t.Context(), key.URI, plaintext, aad)
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		if i == 0 {
			first = sealed
		} else if bytes.Equal(sealed, first) {
			t.Fatal("two encryptions of the same message are identical")
		}
		nonce := string(sealed[:hsm.GCMNonceSize])
		if nonces[nonce] {
			// NIST SP 800-38D §8: a repeated nonce breaks GCM entirely.
			t.Fatalf("encryption %d reused a nonce", i)
		}
		nonces[nonce] = true
	}
}

func (s *suite) testTamper(t *testing.T) {
	key := s.create(t, hsm.AES256, "tamper")
	plaintext, aad := []byte("a message that must not change"), []byte("context")
	sealed, err := s.km.Encrypt(t.Context(), key.URI, plaintext, aad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	n := len(sealed)
	tests := []struct {
		name   string
		sealed []byte
		aad    []byte
	}{
		{"a bit flipped in the nonce's first byte", flip(0), aad},
		{"a bit flipped in the nonce's last byte", flip(hsm.GCMNonceSize - 1), aad},
		{"a bit flipped in the ciphertext", flip(hsm.GCMNonceSize), aad},
		{"a bit flipped in the ciphertext's last byte", flip(n - hsm.GCMTagSize - 1), aad},
		{"a bit flipped in the tag", flip(n - hsm.GCMTagSize), aad},
		{"a bit flipped in the tag's last byte", flip(n - 1), aad},
		{"other additional data", sealed, []byte("Context")},
		{"missing additional data", sealed, nil},
		{"the last byte cut off", sealed[:n-1], aad},
		{"a byte appended", append(bytes.Clone(sealed), 0), aad},
		{"only nonce and tag", append(bytes.Clone(sealed[:hsm.GCMNonceSize]), sealed[n-hsm.GCMTagSize:]...), aad},
		{"shorter than nonce and tag", sealed[:hsm.GCMNonceSize+hsm.GCMTagSize-1], aad},
		{"nothing at all", nil, aad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.km.Decrypt(t.Context(), key.URI, tc.sealed, tc.aad)
			wantErr(t, "Decrypt", err, hsm.ErrDecrypt)
			if got != nil {
				t.Errorf("Decrypt returned %d bytes along with its error", len(got))
			}
		})
	}
	// The original still opens: the checks above altered copies.
	if _, err := s.km.Decrypt(t.Context(), key.URI, sealed, aad); err != nil {
		t.Errorf("Decrypt of the unaltered data: %v", err)
	}
}

func (s *suite) testDecryptWrongKey(t *testing.T) {
	k1 := s.create(t, hsm.AES256, "key-one")
	k2 := s.create(t, hsm.AES256, "key-two")
	sealed, err := s.km.Encrypt(t.Context(), k1.URI, []byte("for key one"), nil)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	_, err = s.km.Decrypt(t.Context(), k2.URI, sealed, nil)
	wantErr(t, "Decrypt with another AES key", err, hsm.ErrDecrypt)
}

func (s *suite) testWrongKeyType(t *testing.T) {
	ctx := t.Context()
	ec := s.create(t, hsm.ECP256, "wrong-type")
	aes := s.create(t, hsm.AES256, "wrong-type")

	_, err := s.km.Signer(ctx, aes.URI)
	wantErr(t, "Signer for an AES key", err, hsm.ErrWrongKeyType)
	_, err = s.km.Encrypt(ctx, ec.URI, []byte("x"), nil)
	wantErr(t, "Encrypt with an EC key", err, hsm.ErrWrongKeyType)
	_, err = s.km.Decrypt(ctx, ec.URI, make([]byte, hsm.GCMNonceSize+hsm.GCMTagSize+1), nil)
	wantErr(t, "Decrypt with an EC key", err, hsm.ErrWrongKeyType)
}
