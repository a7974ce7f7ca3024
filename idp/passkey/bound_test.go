package passkey_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"eidp/idp/passkey"
	"eidp/idp/passkey/passkeytest"
	"eidp/internal/testenv"
)

// TestBoundAssertion: the caller's challenge reaches the authenticator, the
// evidence re-verifies with the credential's public key, and an assertion
// over another challenge, another resident's begin or no UV is refused.
func TestBoundAssertion(t *testing.T) {
	ctx := context.Background()
	d := testenv.OpenDB(t, testenv.SQLite(t))
	svc := newService(t, d, passkey.Policy{})
	a := passkeytest.NewAuthenticator(origin)
	rid := addResident(t, d)
	register(t, svc, a, rid)

	challenge := sha256.Sum256([]byte("eidp-test-commitment"))
	flow := newFlow(t)
	opts, err := svc.BeginBound(ctx, rid, flow, challenge[:])
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Challenge        string `json:"challenge"`
		UserVerification string `json:"userVerification"`
	}
	if err := json.Unmarshal(opts, &shape); err != nil {
		t.Fatal(err)
	}
	if shape.Challenge != base64.RawURLEncoding.EncodeToString(challenge[:]) || shape.UserVerification != "required" {
		t.Fatalf("options = %s", opts)
	}
	resp, err := a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("something else"))
	if _, _, err := svc.FinishBound(ctx, rid, flow, other[:], resp); err == nil {
		t.Fatal("an assertion was accepted for another commitment")
	}
	cred, ev, err := svc.FinishBound(ctx, rid, flow, challenge[:], resp)
	if err != nil {
		t.Fatalf("FinishBound: %s", passkey.LogDetail(err))
	}
	if cred.ResidentID != rid || !bytes.Equal(ev.CredentialID, cred.ID) {
		t.Fatalf("credential %+v, evidence credential %x", cred, ev.CredentialID)
	}
	// The evidence verifies on its own: signature over authData || SHA-256(clientDataJSON).
	key, err := webauthncose.ParsePublicKey(ev.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cdh := sha256.Sum256(ev.ClientDataJSON)
	signed := sha256.Sum256(append(append([]byte{}, ev.AuthenticatorData...), cdh[:]...))
	ec, ok := key.(webauthncose.EC2PublicKeyData)
	if !ok {
		t.Fatalf("key type %T", key)
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: bigInt(ec.XCoord), Y: bigInt(ec.YCoord)}
	if !ecdsa.VerifyASN1(pub, signed[:], ev.Signature) {
		t.Fatal("evidence signature does not verify")
	}
	if !bytes.Contains(ev.ClientDataJSON, []byte(base64.RawURLEncoding.EncodeToString(challenge[:]))) {
		t.Fatalf("client data %s does not carry the challenge", ev.ClientDataJSON)
	}
	// Replay: the ceremony is consumed.
	if _, _, err := svc.FinishBound(ctx, rid, flow, challenge[:], resp); err == nil {
		t.Fatal("replayed bound assertion accepted")
	}

	// Without UV the assertion is refused.
	c2 := sha256.Sum256([]byte("second"))
	flow = newFlow(t)
	opts, err = svc.BeginBound(ctx, rid, flow, c2[:])
	if err != nil {
		t.Fatal(err)
	}
	a.SetUserVerified(false)
	resp, err = a.Get(opts)
	a.SetUserVerified(true)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.FinishBound(ctx, rid, flow, c2[:], resp)
	wantErr(t, err, passkey.ErrUserVerification)

	// Begun for one resident, answered as another: refused.
	other2 := addResident(t, d)
	b := passkeytest.NewAuthenticator(origin)
	register(t, svc, b, other2)
	c3 := sha256.Sum256([]byte("third"))
	flow = newFlow(t)
	opts, err = svc.BeginBound(ctx, rid, flow, c3[:])
	if err != nil {
		t.Fatal(err)
	}
	resp, err = a.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.FinishBound(ctx, other2, flow, c3[:], resp)
	wantErr(t, err, passkey.ErrChallenge)

	// Short challenges are refused up front.
	if _, err := svc.BeginBound(ctx, rid, newFlow(t), []byte("short")); err == nil {
		t.Fatal("a 5-byte challenge was accepted")
	}
}

func bigInt(b []byte) *big.Int { return new(big.Int).SetBytes(b) }
