package population_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"eidp/bench/seed/population"
	"eidp/idp/passkey/passkeytest"
)

func TestDerive(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 16)
	a, again := population.Derive(seed, 5), population.Derive(seed, 5)
	if a.ID != again.ID || !bytes.Equal(a.CredentialID, again.CredentialID) || !a.Key.Equal(again.Key) || a.Index != 5 {
		t.Fatal("the same seed and index gave another resident")
	}
	if raw, err := base64.RawURLEncoding.DecodeString(a.ID); err != nil || len(raw) != 16 {
		t.Fatalf("ID %q is not 16 bytes of base64url", a.ID)
	}
	id, key := passkeytest.DeriveCredential(seed, 5)
	if !bytes.Equal(id, a.CredentialID) || !key.Equal(a.Key) {
		t.Fatal("the passkey is not passkeytest.DeriveCredential's")
	}
	if b := population.Derive(seed, 6); b.ID == a.ID || bytes.Equal(b.CredentialID, a.CredentialID) {
		t.Fatal("two indexes share an ID")
	}
	if c := population.Derive(bytes.Repeat([]byte{8}, 16), 5); c.ID == a.ID || c.Key.Equal(a.Key) {
		t.Fatal("two seeds share a resident")
	}
}

func TestParseKeySeed(t *testing.T) {
	got, err := population.ParseKeySeed(" 00112233445566778899aabbccddeeff\n")
	if err != nil || len(got) != 16 || got[15] != 0xff {
		t.Fatalf("ParseKeySeed = %x, %v", got, err)
	}
	for _, bad := range []string{"", "00112233445566778899aabbccddee", "not hex at all, not hex at all!!", "0011223344556677889"} {
		if _, err := population.ParseKeySeed(bad); !errors.Is(err, population.ErrKeySeed) {
			t.Errorf("ParseKeySeed(%q) = %v, want ErrKeySeed", bad, err)
		}
	}
}
