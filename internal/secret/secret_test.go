package secret_test

import (
	"encoding/base64"
	"testing"

	"eidp/internal/secret"
)

func TestRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		v := secret.Random(32)
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) != 32 || len(v) != 43 {
			t.Fatalf("Random(32) = %q: %d bytes, %v", v, len(b), err)
		}
		if seen[v] {
			t.Fatalf("Random repeated %q", v)
		}
		seen[v] = true
	}
}

func TestHash(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got := secret.Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Hash(abc) = %s", got)
	}
}
