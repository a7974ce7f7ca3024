package keyring_test

import (
	"testing"

	"eidp/hsm"
	"eidp/hsm/keyring"
)

// The signing-kek wraps residents' signing keys (hsm.KeyWrapper): an AES-256
// key that, like the vault-kek, rotates at once and keeps its old keys until
// an operator acts, because resident keys wrapped under them stay in use.
func TestSigningKEKRole(t *testing.T) {
	r, err := keyring.ParseRole("signing-kek")
	if err != nil || r != keyring.SigningKEK {
		t.Fatalf("ParseRole(signing-kek) = %q, %v", r, err)
	}
	if alg := r.DefaultAlgorithm(); alg != hsm.AES256 {
		t.Errorf("default algorithm %s, want AES-256", alg)
	}
	if p := keyring.DefaultPolicy(r); p != (keyring.Policy{}) {
		t.Errorf("policy %+v, want rotation at once and old keys kept until an operator acts", p)
	}
	listed := false
	for _, role := range keyring.Roles() {
		listed = listed || role == r
	}
	if !listed {
		t.Error("Roles() does not list signing-kek")
	}
}
