package keyring_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/hsm/soft"
	"eidp/internal/testenv"
)

func newRing(t *testing.T, url string, opts ...keyring.Option) (*keyring.Keyring, hsm.KeyManager) {
	t.Helper()
	d := testenv.OpenDB(t, url)
	km, err := soft.Open(context.Background(), soft.Options{Dir: t.TempDir(), MasterKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { km.Close() })
	return keyring.New(d, km, opts...), km
}

// The registry is a store: its tests run on every database engine.
func TestKeyring(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			ctx := context.Background()
			t.Run("a role has no active key until one is created", func(t *testing.T) {
				ring, _ := newRing(t, d.URL)
				if _, err := ring.Active(ctx, keyring.TSA); !errors.Is(err, keyring.ErrNoActiveKey) {
					t.Fatalf("err = %v", err)
				}
				key, err := ring.Create(ctx, keyring.TSA, hsm.ECP256)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ring.Active(ctx, keyring.TSA)
				if err != nil || got.ID != key.ID || got.URI != key.URI || got.State != keyring.Active || got.Algorithm != hsm.ECP256 {
					t.Fatalf("active = %+v, %v; created %+v", got, err, key)
				}
				if _, err := ring.Create(ctx, keyring.TSA, hsm.ECP256); !errors.Is(err, keyring.ErrActiveExists) {
					t.Fatalf("second create: %v", err)
				}
			})
			t.Run("a refused create leaves no key in the backend", func(t *testing.T) {
				ring, km := newRing(t, d.URL)
				ring.Create(ctx, keyring.OCSP, hsm.ECP256)
				before, _ := km.List(ctx)
				ring.Create(ctx, keyring.OCSP, hsm.ECP256)
				after, _ := km.List(ctx)
				if len(after) != len(before) {
					t.Fatalf("backend keys %d → %d", len(before), len(after))
				}
			})
			t.Run("rotation without publication ahead activates the new key and keeps the old one retiring", func(t *testing.T) {
				ring, km := newRing(t, d.URL, keyring.WithPolicy(keyring.OIDCSigning, keyring.Policy{}))
				old, _ := ring.Create(ctx, keyring.OIDCSigning, hsm.ECP256)
				next, err := ring.Rotate(ctx, keyring.OIDCSigning, hsm.RSA2048)
				if err != nil {
					t.Fatal(err)
				}
				keys, err := ring.List(ctx, keyring.OIDCSigning)
				if err != nil || len(keys) != 2 {
					t.Fatalf("list: %v %v", keys, err)
				}
				states := map[string]keyring.State{}
				for _, k := range keys {
					states[k.ID] = k.State
				}
				if states[old.ID] != keyring.Retiring || states[next.ID] != keyring.Active {
					t.Fatalf("states: %v", states)
				}
				_, s, err := ring.Signer(ctx, keyring.OIDCSigning)
				if err != nil || s.Algorithm() != hsm.RSA2048 {
					t.Fatalf("signer: %v %v", s, err)
				}
				if _, err := km.Key(ctx, old.URI); err != nil {
					t.Fatalf("the retiring key must stay in the backend: %v", err)
				}
			})
			t.Run("the vault KEK must be AES and signing roles must not be", func(t *testing.T) {
				ring, _ := newRing(t, d.URL)
				if _, err := ring.Create(ctx, keyring.VaultKEK, hsm.ECP256); !errors.Is(err, keyring.ErrWrongUsage) {
					t.Fatalf("EC KEK: %v", err)
				}
				if _, err := ring.Create(ctx, keyring.OIDCSigning, hsm.AES256); !errors.Is(err, keyring.ErrWrongUsage) {
					t.Fatalf("AES signing key: %v", err)
				}
				if _, err := ring.Create(ctx, keyring.VaultKEK, hsm.AES256); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("nodes starting together agree on one key", func(t *testing.T) {
				ring, _ := newRing(t, d.URL)
				var wg sync.WaitGroup
				ids := make([]string, 6)
				errs := make([]error, 6)
				for i := range ids {
					wg.Go(func() {
						k, _, err := ring.Ensure(ctx, keyring.CARoot)
						ids[i], errs[i] = k.ID, err
					})
				}
				wg.Wait()
				for i := range ids {
					if errs[i] != nil || ids[i] != ids[0] {
						t.Fatalf("node %d: %s %v (node 0: %s)", i, ids[i], errs[i], ids[0])
					}
				}
				keys, _ := ring.List(ctx, keyring.CARoot)
				if len(keys) != 1 {
					t.Fatalf("%d keys recorded", len(keys))
				}
			})
		})
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range keyring.Roles() {
		if got, err := keyring.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("%s: %v", r, err)
		}
	}
	if _, err := keyring.ParseRole("root"); !errors.Is(err, keyring.ErrUnknownRole) {
		t.Errorf("unknown role: %v", err)
	}
}
