//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"eidp/hsm"
	"eidp/hsm/hsmtest"
	"eidp/internal/testenv"
)

func optionsFor(tok testenv.Token) Options {
	return Options{Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}
}

// openBackend opens a backend on tok and closes it when the test ends.
func openBackend(t testing.TB, opts Options) *Backend {
	t.Helper()
	b, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%v): %v", opts, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	tok := testenv.SoftHSM(t)
	opts := optionsFor(tok)
	// Named after the backend so that the test script can report which backends the suite ran on.
	t.Run("softhsm2", func(t *testing.T) {
		hsmtest.Run(t, hsmtest.Harness{
			Open: func(t *testing.T) hsm.KeyManager {
				t.Helper()
				b, err := Open(t.Context(), opts)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return b
			},
			OpenWithWrongCredential: func(t *testing.T) error {
				wrong := opts
				wrong.PIN = "not-" + tok.PIN
				b, err := Open(t.Context(), wrong)
				if err == nil {
					b.Close()
					return nil
				}
				if strings.Contains(err.Error(), wrong.PIN) {
					t.Errorf("the error for a wrong PIN contains the PIN: %v", err)
				}
				return err
			},
		})
	})
}

func BenchmarkSign(b *testing.B) {
	tok := testenv.SoftHSM(b)
	hsmtest.Bench(b, openBackend(b, optionsFor(tok)))
}

// TestBackend runs the backend's own tests on one token; each subtest
// closes what it opens.
func TestBackend(t *testing.T) {
	tok := testenv.SoftHSM(t)
	tests := []struct {
		name string
		run  func(t *testing.T, tok testenv.Token)
	}{
		{"names the available tokens when the label is unknown", testOpenNamesAvailableTokensWhenTheLabelIsUnknown},
		{"rejects a wrong PIN while the token is logged in", testOpenRejectsAWrongPINWhileTheTokenIsLoggedIn},
		{"derives its capabilities from the token's mechanisms", testCapabilitiesFollowTheTokensMechanisms},
		{"creates sensitive token objects with only the usages they need", testKeysAreSensitiveTokenObjectsWithOnlyTheirUsages},
		{"signs with the cached handle without searching the token", testSignaturesUseTheCachedHandle},
		{"looks a stale handle up again", testAStaleHandleIsLookedUpAgain},
		{"gives up waiting for a session when the context ends", testSignContextGivesUpWhenNoSessionFreesUp},
		{"does not find keys through a URI naming another token", testAURINamingAnotherTokenIsNotFound},
		{"signs with RSA hashes and salt lengths beyond the defaults", testRSASigningOptions},
		{"releases the module on Close and opens again", testCloseReleasesTheModule},
		{"seals as nonce, ciphertext and tag", testEncryptOutputLayout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, tok) })
	}
}

func testOpenNamesAvailableTokensWhenTheLabelIsUnknown(t *testing.T, tok testenv.Token) {
	opts := optionsFor(tok)
	opts.TokenLabel = "no-such-token"
	_, err := Open(t.Context(), opts)
	if !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Open with an unknown label: %v, want an error wrapping hsm.ErrUnavailable", err)
	}
	for _, want := range []string{`"no-such-token"`, `"` + tok.Label + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestOpenRejectsAWrongPINWithoutRevealingIt(t *testing.T) {
	tok := testenv.SoftHSM(t)
	for _, pin := range []string{"wrong-pin-4711", "Zq"} {
		opts := optionsFor(tok)
		opts.PIN = pin
		_, err := Open(t.Context(), opts)
		if !errors.Is(err, hsm.ErrAuth) {
			t.Fatalf("Open with PIN of %d chars: %v, want an error wrapping hsm.ErrAuth", len(pin), err)
		}
		if !strings.Contains(err.Error(), tok.Label) {
			t.Errorf("error %q does not name the token %q", err, tok.Label)
		}
		if strings.Contains(err.Error(), pin) {
			t.Errorf("error %q contains the PIN", err)
		}
	}
}

func testOpenRejectsAWrongPINWhileTheTokenIsLoggedIn(t *testing.T, tok testenv.Token) {
	// Login state belongs to the process, so C_Login answers
	// CKR_USER_ALREADY_LOGGED_IN even to a wrong PIN; the backend must
	// still refuse it.
	openBackend(t, optionsFor(tok))
	opts := optionsFor(tok)
	opts.PIN = "wrong-" + tok.PIN
	b, err := Open(t.Context(), opts)
	if err == nil {
		b.Close()
	}
	if !errors.Is(err, hsm.ErrAuth) {
		t.Fatalf("second Open with a wrong PIN: %v, want an error wrapping hsm.ErrAuth", err)
	}
	// The right PIN still works alongside.
	openBackend(t, optionsFor(tok))
}

func testCapabilitiesFollowTheTokensMechanisms(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	// SoftHSM 2.6 has CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA.
	if got := b.Capabilities(); !slices.Equal(got, hsm.AllAlgorithms) {
		t.Errorf("Capabilities() = %v, want %v", got, hsm.AllAlgorithms)
	}
	if b.Name() != "pkcs11" {
		t.Errorf("Name() = %q", b.Name())
	}
}

func testKeysAreSensitiveTokenObjectsWithOnlyTheirUsages(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	ctx := t.Context()
	tests := []struct {
		alg  hsm.Algorithm
		typ  string
		want map[uint]bool
	}{
		{hsm.ECP256, TypePrivate, map[uint]bool{p11.CKA_SIGN: true, p11.CKA_DECRYPT: false, p11.CKA_DERIVE: false, p11.CKA_UNWRAP: false}},
		{hsm.RSA2048, TypePrivate, map[uint]bool{p11.CKA_SIGN: true, p11.CKA_DECRYPT: false, p11.CKA_UNWRAP: false}},
		{hsm.Ed25519, TypePrivate, map[uint]bool{p11.CKA_SIGN: true}},
		{hsm.AES256, TypeSecretKey, map[uint]bool{p11.CKA_ENCRYPT: true, p11.CKA_DECRYPT: true, p11.CKA_SIGN: false, p11.CKA_WRAP: true, p11.CKA_UNWRAP: true}},
	}
	uriPattern := regexp.MustCompile(`^pkcs11:token=([^;]+);id=((?:%[0-9A-F]{2}){16});object=([^;]+);type=([a-z-]+)$`)
	for _, tc := range tests {
		t.Run(string(tc.alg), func(t *testing.T) {
			info, err := b.CreateKey(ctx, "attrs-"+string(tc.alg), tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Destroy(ctx, info.URI)
			m := uriPattern.FindStringSubmatch(info.URI)
			if m == nil || m[1] != b.token.Label || m[3] != "attrs-"+string(tc.alg) || m[4] != tc.typ {
				t.Errorf("URI %q is not pkcs11:token=%s;id=<16 bytes>;object=<label>;type=%s", info.URI, b.token.Label, tc.typ)
			}
			e, err := b.entry(ctx, mustParse(t, info.URI))
			if err != nil {
				t.Fatal(err)
			}
			want := map[uint]bool{
				p11.CKA_TOKEN: true, p11.CKA_PRIVATE: true,
				p11.CKA_SENSITIVE: true, p11.CKA_EXTRACTABLE: false,
				p11.CKA_ALWAYS_SENSITIVE: true, p11.CKA_NEVER_EXTRACTABLE: true,
			}
			for k, v := range tc.want {
				want[k] = v
			}
			err = b.withSession(ctx, func(h p11.SessionHandle) error {
				for attr, v := range want {
					a, err := b.attributes(h, e.handle, attr)
					if err != nil {
						return err
					}
					if got := len(a[attr]) == 1 && a[attr][0] == 1; got != v {
						t.Errorf("attribute 0x%x = %v, want %v", attr, got, v)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustParse(t *testing.T, uri string) string {
	t.Helper()
	u, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return string(u.ID)
}

func testSignaturesUseTheCachedHandle(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	ctx := t.Context()
	info, err := b.CreateKey(ctx, "cached", hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	before := b.finds.Load()
	sg, err := b.Signer(ctx, info.URI)
	if err != nil {
		t.Fatal(err)
	}
	signN(t, sg, 20)
	if n := b.finds.Load() - before; n != 0 {
		t.Errorf("Signer and 20 signatures on a key CreateKey cached searched the token %d times, want 0", n)
	}

	// A restarted backend searches once, for the Signer, and never again.
	b2 := openBackend(t, optionsFor(tok))
	sg2, err := b2.Signer(ctx, info.URI)
	if err != nil {
		t.Fatal(err)
	}
	afterLookup := b2.finds.Load()
	if afterLookup != 1 {
		t.Errorf("Signer on a fresh backend searched %d times, want 1", afterLookup)
	}
	signN(t, sg2, 20)
	if n := b2.finds.Load() - afterLookup; n != 0 {
		t.Errorf("20 signatures after the first lookup searched the token %d times, want 0", n)
	}
}

func signN(t *testing.T, sg hsm.Signer, n int) {
	t.Helper()
	pub := sg.Public().(*ecdsa.PublicKey)
	for i := range n {
		d := sha256.Sum256([]byte{byte(i)})
		sig, err := sg.SignContext(t.Context(), d[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
}

func testAStaleHandleIsLookedUpAgain(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	ctx := t.Context()
	info, err := b.CreateKey(ctx, "stale", hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := b.Signer(ctx, info.URI)
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the object was destroyed and recreated behind our back: the
	// cached handle no longer names an object.
	id := mustParse(t, info.URI)
	b.mu.Lock()
	stale := *b.keys[id]
	stale.handle += 1 << 20
	b.keys[id] = &stale
	b.mu.Unlock()

	before := b.finds.Load()
	signN(t, sg, 3)
	if n := b.finds.Load() - before; n != 1 {
		t.Errorf("recovering from a stale handle searched %d times, want 1", n)
	}
}

func TestADeadSessionIsReplaced(t *testing.T) {
	tests := []struct {
		name string
		kill func(ctx *p11.Ctx, h p11.SessionHandle) error
	}{
		{"closed behind the pool's back", func(ctx *p11.Ctx, h p11.SessionHandle) error { return ctx.CloseSession(h) }},
		{"logged out behind the pool's back", func(ctx *p11.Ctx, h p11.SessionHandle) error { return ctx.Logout(h) }},
	}
	tok := testenv.SoftHSM(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := optionsFor(tok)
			opts.Sessions = 1 // every operation uses the one session
			b := openBackend(t, opts)
			ctx := t.Context()
			info, err := b.CreateKey(ctx, "dead-session", hsm.ECP256)
			if err != nil {
				t.Fatal(err)
			}
			aes, err := b.CreateKey(ctx, "dead-session", hsm.AES256)
			if err != nil {
				t.Fatal(err)
			}
			sg, err := b.Signer(ctx, info.URI)
			if err != nil {
				t.Fatal(err)
			}
			signN(t, sg, 1)

			s, err := b.pool.get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := s.h
			b.pool.put(s)
			if err := tc.kill(b.mod.ctx, h); err != nil {
				t.Fatalf("killing session %d: %v", h, err)
			}

			signN(t, sg, 2)
			if got := b.replaced.Load(); got != 1 {
				t.Errorf("%d sessions replaced, want 1", got)
			}
			sealed, err := b.Encrypt(ctx, aes.URI, []byte("still works"), nil)
			if err != nil {
				t.Fatalf("Encrypt after the session was replaced: %v", err)
			}
			if pt, err := b.Decrypt(ctx, aes.URI, sealed, nil); err != nil || string(pt) != "still works" {
				t.Fatalf("Decrypt after the session was replaced: %q, %v", pt, err)
			}
		})
	}
}

func testSignContextGivesUpWhenNoSessionFreesUp(t *testing.T, tok testenv.Token) {
	opts := optionsFor(tok)
	opts.Sessions = 1
	b := openBackend(t, opts)
	info, err := b.CreateKey(t.Context(), "busy", hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := b.Signer(t.Context(), info.URI)
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.pool.get(t.Context()) // hold the only session
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	d := sha256.Sum256([]byte("m"))
	_, err = sg.SignContext(ctx, d[:], crypto.SHA256)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SignContext with every session busy: %v, want context.DeadlineExceeded", err)
	}
	b.pool.put(s)
	if _, err := sg.SignContext(t.Context(), d[:], crypto.SHA256); err != nil {
		t.Errorf("SignContext once the session is free: %v", err)
	}
}

func testAURINamingAnotherTokenIsNotFound(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	ctx := t.Context()
	info, err := b.CreateKey(ctx, "elsewhere", hsm.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := ParseURI(info.URI)
	u.Token = "another-token"
	_, err = b.Key(ctx, u.String())
	if !errors.Is(err, hsm.ErrKeyNotFound) {
		t.Fatalf("Key on another token's URI: %v, want hsm.ErrKeyNotFound", err)
	}
	for _, want := range []string{`"another-token"`, `"` + b.token.Label + `"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}

	// The same key found by id alone, and with a matching serial.
	for _, uri := range []string{
		"pkcs11:id=" + pctAll(u.ID),
		"pkcs11:serial=" + b.token.Serial + ";id=" + pctAll(u.ID) + ";x-vendor=1?module-name=softhsm2&pin-value=secret",
	} {
		got, err := b.Key(ctx, uri)
		if err != nil || got.URI != info.URI {
			t.Errorf("Key(%s) = %v, %v; want %s", uri, got.URI, err, info.URI)
		}
	}
	// A wrong label or type does not match.
	for _, uri := range []string{
		"pkcs11:id=" + pctAll(u.ID) + ";object=other",
		"pkcs11:id=" + pctAll(u.ID) + ";type=secret-key",
	} {
		if _, err := b.Key(ctx, uri); !errors.Is(err, hsm.ErrKeyNotFound) {
			t.Errorf("Key(%s): %v, want hsm.ErrKeyNotFound", uri, err)
		}
	}
}

func pctAll(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		writePct(&s, c)
	}
	return s.String()
}

func testRSASigningOptions(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	ctx := t.Context()
	info, err := b.CreateKey(ctx, "rsa-options", hsm.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := b.Signer(ctx, info.URI)
	if err != nil {
		t.Fatal(err)
	}
	pub := info.Public.(*rsa.PublicKey)
	d384 := sha512.Sum384([]byte("m"))
	d512 := sha512.Sum512([]byte("m"))

	sig, err := sg.SignContext(ctx, d384[:], crypto.SHA384)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA384, d384[:], sig); err != nil {
		t.Errorf("PKCS #1 v1.5 with SHA-384: %v", err)
	}
	pss := &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: 20}
	sig, err = sg.SignContext(ctx, d512[:], pss)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA512, d512[:], sig, pss); err != nil {
		t.Errorf("PSS with SHA-512 and a 20-byte salt: %v", err)
	}
	if _, err := sg.SignContext(ctx, d384[:], crypto.SHA256); err == nil {
		t.Error("a SHA-384 digest declared as SHA-256 was signed")
	}
	if _, err := sg.SignContext(ctx, d384[:], crypto.SHA1); !errors.Is(err, hsm.ErrUnsupportedAlgorithm) {
		t.Errorf("PKCS #1 v1.5 with SHA-1: %v, want hsm.ErrUnsupportedAlgorithm", err)
	}
}

func testCloseReleasesTheModule(t *testing.T, tok testenv.Token) {
	b, err := Open(t.Context(), optionsFor(tok))
	if err != nil {
		t.Fatal(err)
	}
	users := b.mod.users()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := b.mod.users(); got != users-1 {
		t.Errorf("module users after Close: %d, want %d", got, users-1)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := b.mod.users(); got != users-1 {
		t.Errorf("module users after a second Close: %d, want %d", got, users-1)
	}
	if _, err := b.List(t.Context()); !errors.Is(err, hsm.ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	// The module stays initialised: opening again works.
	openBackend(t, optionsFor(tok))
}

func testEncryptOutputLayout(t *testing.T, tok testenv.Token) {
	b := openBackend(t, optionsFor(tok))
	ctx := t.Context()
	info, err := b.CreateKey(ctx, "layout", hsm.AES256)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("sixteen bytes!!!")
	a, err := b.Encrypt(ctx, info.URI, pt, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Encrypt(ctx, info.URI, pt, []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 12+len(pt)+16 || bytes.Equal(a[:12], c[:12]) {
		t.Errorf("sealed %d bytes (want %d) or nonces repeat", len(a), 12+len(pt)+16)
	}
}
