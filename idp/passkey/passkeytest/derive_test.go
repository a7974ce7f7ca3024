package passkeytest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"eidp/idp/passkey/passkeytest"
)

func TestDeriveCredentialIsDeterministicAndDistinct(t *testing.T) {
	seed := []byte("0123456789abcdef0123456789abcdef")
	id1, k1 := passkeytest.DeriveCredential(seed, 1)
	id1again, k1again := passkeytest.DeriveCredential(seed, 1)
	if !bytes.Equal(id1, id1again) || !k1.Equal(k1again) {
		t.Fatal("the same seed and index gave different credentials")
	}
	if len(id1) != 32 || k1.Curve != elliptic.P256() || !k1.Curve.IsOnCurve(k1.X, k1.Y) {
		t.Fatalf("credential: id %d bytes, curve %v", len(id1), k1.Curve.Params().Name)
	}
	ids := map[string]bool{string(id1): true}
	keys := []*ecdsa.PrivateKey{k1}
	others := [][]byte{seed, []byte("another seed, as long as the first")}
	for _, s := range others {
		for i := range 50 {
			if bytes.Equal(s, seed) && i == 1 {
				continue
			}
			id, k := passkeytest.DeriveCredential(s, i)
			if ids[string(id)] {
				t.Fatalf("seed %q index %d repeats a credential ID", s, i)
			}
			ids[string(id)] = true
			for _, prev := range keys {
				if prev.Equal(k) {
					t.Fatalf("seed %q index %d repeats a key", s, i)
				}
			}
			keys = append(keys, k)
		}
	}
	if bytes.Equal(id1, k1.D.Bytes()) {
		t.Fatal("the credential ID is the private key")
	}
}

func TestCOSEPublicKeyIsWhatAServerParses(t *testing.T) {
	_, k := passkeytest.DeriveCredential([]byte("seed seed seed seed"), 7)
	cose, err := passkeytest.COSEPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		t.Fatalf("go-webauthn cannot parse the COSE key: %v", err)
	}
	ec, ok := parsed.(webauthncose.EC2PublicKeyData)
	if !ok || ec.Algorithm != int64(webauthncose.AlgES256) || !bytes.Equal(ec.XCoord, k.X.FillBytes(make([]byte, 32))) ||
		!bytes.Equal(ec.YCoord, k.Y.FillBytes(make([]byte, 32))) {
		t.Fatalf("parsed key %+v is not the derived one", parsed)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passkeytest.COSEPublicKey(&p384.PublicKey); !errors.Is(err, passkeytest.ErrUnsupportedAlgorithm) {
		t.Errorf("a P-384 key: %v, want ErrUnsupportedAlgorithm", err)
	}
	if _, err := passkeytest.COSEPublicKey(nil); !errors.Is(err, passkeytest.ErrUnsupportedAlgorithm) {
		t.Errorf("nil key: %v", err)
	}
}

// A credential stored by a seeding tool (derived key, its COSE form, no
// registration ceremony) and added to a fresh authenticator logs in, as
// go-webauthn verifies it; one derived from another seed does not.
func TestAddedDerivedCredentialLogsIn(t *testing.T) {
	wa := newRP(t)
	seed := []byte("the benchmark's key seed, 32 B!!")
	id, key := passkeytest.DeriveCredential(seed, 42)
	cose, err := passkeytest.COSEPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	u := &user{id: []byte("resident-42"), creds: []webauthn.Credential{{
		ID: id, PublicKey: cose, AttestationFormat: "none",
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: true},
	}}}

	login := func(a *passkeytest.Authenticator) error {
		t.Helper()
		assertion, session, err := wa.BeginDiscoverableLogin()
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(assertion.Response)
		resp, err := a.Get(opts)
		if err != nil {
			return err
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
		if err != nil {
			return err
		}
		_, _, err = wa.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, u.id) || !bytes.Equal(rawID, id) {
				return nil, errors.New("unknown credential or user handle")
			}
			return u, nil
		}, *session, parsed)
		return err
	}

	// Zero counters, as the generator's many short-lived authenticators
	// for one resident must send (a counter restarting at 1 in each would
	// look like a clone).
	for range 2 {
		a := passkeytest.NewAuthenticator("http://localhost:8080", passkeytest.WithCounter(passkeytest.CounterZero))
		if err := login(a); !errors.Is(err, passkeytest.ErrNoCredential) {
			t.Fatalf("login before AddCredential: %v, want ErrNoCredential", err)
		}
		_, again := passkeytest.DeriveCredential(seed, 42)
		a.AddCredential(id, again, u.id, "localhost")
		if err := login(a); err != nil {
			t.Fatalf("login with the added credential: %v", err)
		}
		if held := a.Credentials(); len(held) != 1 || !bytes.Equal(held[0].ID, id) || held[0].SignCount != 0 {
			t.Fatalf("authenticator holds %+v", held)
		}
	}

	// Adding a credential with the same ID replaces it: here with the key
	// of another seed, whose signature the server refuses.
	a := passkeytest.NewAuthenticator("http://localhost:8080", passkeytest.WithCounter(passkeytest.CounterZero))
	_, wrong := passkeytest.DeriveCredential([]byte("not the benchmark's key seed...."), 42)
	a.AddCredential(id, key, u.id, "localhost")
	a.AddCredential(id, wrong, u.id, "localhost")
	if n := len(a.Credentials()); n != 1 {
		t.Fatalf("%d credentials after replacing one", n)
	}
	if err := login(a); err == nil {
		t.Fatal("an assertion signed with another seed's key verified")
	}
	// For another RP ID the authenticator has nothing.
	b := passkeytest.NewAuthenticator("http://localhost:8080")
	b.AddCredential(id, key, u.id, "example.org")
	if err := login(b); !errors.Is(err, passkeytest.ErrNoCredential) {
		t.Fatalf("login with a credential for another RP ID: %v", err)
	}
}
