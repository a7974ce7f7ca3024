//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
	"eidp/hsm/hsmtest"
	"eidp/internal/testenv"
)

func TestWrapped(t *testing.T) {
	tok := testenv.SoftHSM(t)
	tests := []struct {
		name string
		run  func(t *testing.T, tok testenv.Token)
	}{
		{"leaves no token or session object behind", testWrappedLeavesNoObjects},
		{"unwraps into a sensitive, unextractable session object that only signs", testUnwrappedObjectAttributes},
		{"refuses an AES key made without CKA_WRAP with a clear error", testWrappingKeyWithoutWrap},
		{"refuses a soft backend's blob", testForeignBlob},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tok) })
	}
}

// allObjects counts every object the backend's sessions see: token objects
// and the session objects of this application (PKCS #11 v2.40 Base §4.4:
// session objects are visible to all sessions of the application).
func allObjects(t *testing.T, b *Backend) int {
	t.Helper()
	var n int
	err := b.withSession(t.Context(), func(h p11.SessionHandle) error {
		objs, err := b.findObjects(h, nil)
		n = len(objs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newKEK(t *testing.T, b *Backend) hsm.KeyInfo {
	t.Helper()
	kek, err := b.CreateKey(t.Context(), "wrapped-test-kek", hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Destroy(t.Context(), kek.URI) })
	return kek
}

func testWrappedLeavesNoObjects(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	kek := newKEK(t, b)
	before := allObjects(t, b)
	d := sha256.Sum256([]byte("resident"))
	for i := range 100 {
		alg := []hsm.Algorithm{hsm.ECP256, hsm.ECP384}[i%2]
		key, err := b.GenerateWrapped(t.Context(), kek.URI, alg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.SignWrapped(t.Context(), kek.URI, key, d[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
		// A failed unwrap must not leave anything either.
		key.Blob[len(key.Blob)-1] ^= 1
		if _, err := b.SignWrapped(t.Context(), kek.URI, key, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnwrap) {
			t.Fatalf("altered blob: %v", err)
		}
	}
	if after := allObjects(t, b); after != before {
		t.Errorf("the sessions see %d objects before 100 wrapped keys were made and used, %d after", before, after)
	}
}

func testUnwrappedObjectAttributes(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	kek := newKEK(t, b)
	e, err := b.entry(t.Context(), mustParse(t, kek.URI))
	if err != nil {
		t.Fatal(err)
	}
	key, err := b.GenerateWrapped(t.Context(), kek.URI, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := parseWrappedBlob(key.Blob)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint]bool{
		p11.CKA_TOKEN: false, p11.CKA_PRIVATE: true, p11.CKA_SENSITIVE: true, p11.CKA_EXTRACTABLE: false,
		p11.CKA_SIGN: true, p11.CKA_DECRYPT: false, p11.CKA_DERIVE: false, p11.CKA_UNWRAP: false,
	}
	err = b.withSession(t.Context(), func(h p11.SessionHandle) error {
		priv, err := b.unwrap(h, e.handle, p11.CKK_EC, wrapped)
		if err != nil {
			return err
		}
		defer b.mod.ctx.DestroyObject(h, priv)
		for attr, v := range want {
			a, err := b.attributes(h, priv, attr)
			if err != nil {
				return err
			}
			if got := len(a[attr]) == 1 && a[attr][0] == 1; got != v {
				t.Errorf("attribute 0x%x = %v, want %v", attr, got, v)
			}
		}
		// Its value cannot be read, and it cannot be wrapped out again.
		if _, err := b.mod.ctx.GetAttributeValue(h, priv, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)}); err == nil {
			t.Error("CKA_VALUE of the unwrapped key is readable")
		}
		if _, err := b.mod.ctx.WrapKey(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, e.handle, priv); err == nil {
			t.Error("the unwrapped key could be wrapped again")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testWrappingKeyWithoutWrap(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	// An AES key as CreateKey made them before wrapped keys existed.
	id := make([]byte, idLen)
	rand.Read(id)
	err := b.withSession(t.Context(), func(h p11.SessionHandle) error {
		_, err := b.mod.ctx.GenerateKey(h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ID, id),
			p11.NewAttribute(p11.CKA_LABEL, "old-vault-kek"),
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, false),
			p11.NewAttribute(p11.CKA_UNWRAP, false),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	uri := keyURI(b.token.Label, id, "old-vault-kek", TypeSecretKey)
	t.Cleanup(func() { b.Destroy(t.Context(), uri) })
	before := allObjects(t, b)
	_, err = b.GenerateWrapped(t.Context(), uri, hsm.ECP256)
	if !errors.Is(err, hsm.ErrWrongKeyType) {
		t.Errorf("GenerateWrapped under a key without CKA_WRAP: got %v, want hsm.ErrWrongKeyType", err)
	}
	if after := allObjects(t, b); after != before {
		t.Errorf("a refused GenerateWrapped left %d objects behind", after-before)
	}
	// A blob made under a proper key, presented to this one, cannot unwrap.
	kek := newKEK(t, b)
	key, err := b.GenerateWrapped(t.Context(), kek.URI, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := b.SignWrapped(t.Context(), uri, key, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrWrongKeyType) {
		t.Errorf("SignWrapped under a key without CKA_UNWRAP: got %v, want hsm.ErrWrongKeyType", err)
	}
}

func testForeignBlob(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	kek := newKEK(t, b)
	key, err := b.GenerateWrapped(t.Context(), kek.URI, hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	key.Blob[0] = 0x53 // hsm/soft's format byte
	if _, err := b.SignWrapped(t.Context(), kek.URI, key, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrUnwrap) {
		t.Errorf("a blob with another format byte: got %v, want hsm.ErrUnwrap", err)
	}
}

// BenchmarkWrapped: GenerateWrapped and SignWrapped on SoftHSM2, and
// SignWrapped with a random one of 10,000 residents' keys.
func BenchmarkWrapped(b *testing.B) {
	tok := testenv.SoftHSM(b)
	hsmtest.BenchWrapped(b, openBackend(b, optionsFor(tok)), 10_000)
}

// BenchmarkTokenObjectLookup is what wrapped keys avoid: residents' keys as
// token objects, 300 of them (a token cannot hold 100,000s). "cached"
// signs with a random key whose object handle the backend has cached (only
// possible while the keys are few); "find" drops the cache first, so each
// signature looks its key up by URI with C_FindObjects, as a server must
// when it cannot keep a handle per resident.
func BenchmarkTokenObjectLookup(b *testing.B) {
	const keys = 300
	tok := testenv.SoftHSM(b)
	be := openBackend(b, optionsFor(tok))
	ctx := b.Context()
	uris := make([]string, keys)
	for i := range uris {
		info, err := be.CreateKey(ctx, fmt.Sprintf("resident-%d", i), hsm.ECP256)
		if err != nil {
			b.Fatal(err)
		}
		uris[i] = info.URI
	}
	d := sha256.Sum256([]byte("benchmark message"))
	sign := func(b *testing.B, uri string) {
		sg, err := be.Signer(ctx, uri)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sg.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("cached-%d-keys", keys), func(b *testing.B) {
		for b.Loop() {
			sign(b, uris[mathrand.IntN(keys)])
		}
	})
	b.Run(fmt.Sprintf("find-%d-keys", keys), func(b *testing.B) {
		for b.Loop() {
			uri := uris[mathrand.IntN(keys)]
			u, err := ParseURI(uri)
			if err != nil {
				b.Fatal(err)
			}
			be.forget(string(u.ID))
			sign(b, uri)
		}
	})
}
