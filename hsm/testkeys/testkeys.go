package testkeys

import (
	"context"
	"crypto/rand"
	"testing"

	"eidp/hsm"
	"eidp/hsm/pkcs11"
	"eidp/hsm/soft"
	"eidp/internal/testenv"
)

// Soft is a soft key backend in a temporary directory.
func Soft(t testing.TB) hsm.KeyManager {
	t.Helper()
	master := make([]byte, 32)
	rand.Read(master)
	km, err := soft.Open(context.Background(), soft.Options{Dir: t.TempDir(), MasterKey: master})
	if err != nil {
		t.Fatalf("soft.Open: %v", err)
	}
	t.Cleanup(func() { km.Close() })
	return km
}

// SoftHSM is a SoftHSM2 token through PKCS#11 (testenv.SoftHSM: skipped
// locally without SoftHSM2, failed under CI=true).
func SoftHSM(t testing.TB) hsm.KeyManager {
	t.Helper()
	tok := testenv.SoftHSM(t)
	km, err := pkcs11.Open(context.Background(), pkcs11.Options{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN})
	if err != nil {
		t.Fatalf("pkcs11.Open: %v", err)
	}
	t.Cleanup(func() { km.Close() })
	return km
}
