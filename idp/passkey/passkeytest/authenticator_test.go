package passkeytest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"eidp/idp/passkey/passkeytest"
)

// The authenticator is checked against go-webauthn alone (no eidp code), so
// that the passkey tests rest on responses another implementation accepts.

type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "CHAN Tai Man" }
func (u *user) WebAuthnDisplayName() string                { return "CHAN Tai Man" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newRP(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          "localhost",
		RPDisplayName: "test",
		RPOrigins:     []string{"http://localhost:8080"},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return wa
}

func TestResponsesVerifyWithGoWebauthn(t *testing.T) {
	wa := newRP(t)
	model := uuid.MustParse("01234567-89ab-4cde-8f01-23456789abcd")
	a := passkeytest.NewAuthenticator("http://localhost:8080", passkeytest.WithAAGUID(model), passkeytest.WithBackupEligible(true))
	u := &user{id: []byte("resident-1")}

	creation, session, err := wa.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	// Wrapped as navigator.credentials.create takes it.
	opts, _ := json.Marshal(creation)
	resp, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		t.Fatalf("parse registration: %v", err)
	}
	cred, err := wa.CreateCredential(u, *session, parsed)
	if err != nil {
		t.Fatalf("verify registration: %v", err)
	}
	flags := parsed.Response.AttestationObject.AuthData.Flags
	if !flags.HasUserPresent() || !flags.HasUserVerified() || !flags.HasBackupEligible() || !flags.HasBackupState() {
		t.Errorf("registration flags = %08b", flags)
	}
	if !bytes.Equal(cred.Authenticator.AAGUID, model[:]) || cred.AttestationFormat != "none" {
		t.Errorf("credential = %+v", cred)
	}
	if held := a.Credentials(); len(held) != 1 || !bytes.Equal(held[0].ID, cred.ID) || !bytes.Equal(held[0].UserHandle, u.id) {
		t.Errorf("authenticator holds %+v", held)
	}
	u.creds = []webauthn.Credential{*cred}

	for want := uint32(1); want <= 2; want++ {
		assertion, session, err := wa.BeginDiscoverableLogin()
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(assertion.Response) // bare options
		resp, err := a.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
		if err != nil {
			t.Fatalf("parse assertion: %v", err)
		}
		_, got, err := wa.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			if !bytes.Equal(handle, u.id) {
				return nil, errors.New("wrong user handle")
			}
			return u, nil
		}, *session, parsed)
		if err != nil {
			t.Fatalf("verify assertion: %v", err)
		}
		if got.Authenticator.SignCount != want || got.Authenticator.CloneWarning {
			t.Errorf("sign count %d (clone warning %v), want %d", got.Authenticator.SignCount, got.Authenticator.CloneWarning, want)
		}
		u.creds = []webauthn.Credential{*got}
	}
}

func TestAuthenticatorRefusesWhatABrowserWould(t *testing.T) {
	a := passkeytest.NewAuthenticator("http://localhost:8080")
	if _, err := a.Get([]byte(`{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rpId":"localhost"}`)); !errors.Is(err, passkeytest.ErrNoCredential) {
		t.Errorf("Get without credentials: %v", err)
	}
	rsaOnly := []byte(`{"rp":{"id":"localhost","name":"x"},"user":{"id":"dQ","name":"u","displayName":"u"},
		"challenge":"AAAAAAAAAAAAAAAAAAAAAA","pubKeyCredParams":[{"type":"public-key","alg":-257}]}`)
	if _, err := a.Create(rsaOnly); !errors.Is(err, passkeytest.ErrUnsupportedAlgorithm) {
		t.Errorf("Create without ES256: %v", err)
	}
	ok := []byte(`{"rp":{"id":"localhost","name":"x"},"user":{"id":"dQ","name":"u","displayName":"u"},
		"challenge":"AAAAAAAAAAAAAAAAAAAAAA","pubKeyCredParams":[{"type":"public-key","alg":-7}]}`)
	if _, err := a.Create(ok); err != nil {
		t.Fatal(err)
	}
	id := a.Credentials()[0].ID
	var exclude map[string]any
	json.Unmarshal(ok, &exclude)
	exclude["excludeCredentials"] = []any{map[string]any{"type": "public-key", "id": protocol.URLEncodedBase64(id).String()}}
	excl, _ := json.Marshal(exclude)
	if _, err := a.Create(excl); !errors.Is(err, passkeytest.ErrExcluded) {
		t.Errorf("Create with the credential excluded: %v", err)
	}
	if _, err := a.Create([]byte(`{"challenge":"not base64!"}`)); err == nil {
		t.Error("Create accepted options without user or challenge")
	}
}
