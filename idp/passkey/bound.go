package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/webauthn"
)

// Assertion is the evidence of a bound assertion: the exact bytes the
// authenticator signed (authenticatorData || SHA-256(clientDataJSON)) and
// its signature, with the credential that made it. Anyone holding the
// credential's public key can check it again later (WebAuthn §7.2 steps
// 19–20), and the challenge inside ClientDataJSON shows what was approved.
type Assertion struct {
	CredentialID      []byte `json:"credential_id"`
	ClientDataJSON    []byte `json:"client_data_json"`
	AuthenticatorData []byte `json:"authenticator_data"`
	Signature         []byte `json:"signature"`
	UserHandle        []byte `json:"user_handle,omitempty"`
	PublicKey         []byte `json:"public_key"` // COSE_Key of the credential
}

// BeginBound asks the logged-in resident for a user-verified assertion
// whose challenge is the caller's: a value that commits to what the
// resident approves (signing.ActivationChallenge, for instance) instead of
// a random one. The challenge must be unpredictable (it carries a fresh
// nonce) and unique, since it is also the ceremony's handle. Options and
// errors are BeginReauth's.
func (s *Service) BeginBound(ctx context.Context, residentID, flowID string, challenge []byte) (json.RawMessage, error) {
	if len(challenge) < 16 || len(challenge) > 64 {
		return nil, fail(ErrChallenge, nil, "a bound challenge must be 16 to 64 bytes")
	}
	// The challenge is the same on every try for one approval: a try the
	// resident abandoned (the prompt closed) would otherwise hold its key
	// until it expires. Only this resident's unanswered bound ceremony with
	// this very challenge is replaced.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM webauthn_challenges WHERE id = $1 AND purpose = $2 AND resident_id = $3`,
		base64.RawURLEncoding.EncodeToString(challenge), purposeBound, residentID); err != nil {
		return nil, fmt.Errorf("passkey: replace bound ceremony: %w", err)
	}
	return s.beginOwn(ctx, residentID, flowID, purposeBound, webauthn.WithChallenge(challenge))
}

// FinishBound verifies the assertion for BeginBound like FinishReauth, and
// in addition that the signed client data carries exactly challenge: the
// authenticator signed the caller's commitment, not another one. It
// returns the credential and the assertion as evidence.
func (s *Service) FinishBound(ctx context.Context, residentID, flowID string, challenge, response []byte) (Credential, Assertion, error) {
	parsed, err := parseAssertion(response)
	if err != nil {
		return Credential{}, Assertion{}, err
	}
	got, err := base64.RawURLEncoding.DecodeString(parsed.Response.CollectedClientData.Challenge)
	if err != nil || !bytes.Equal(got, challenge) {
		return Credential{}, Assertion{}, fail(ErrChallenge, nil, "the assertion answers another challenge than the one bound to this approval")
	}
	cred, err := s.finishOwn(ctx, residentID, flowID, purposeBound, parsed)
	if err != nil {
		return Credential{}, Assertion{}, err
	}
	return cred, Assertion{
		CredentialID:      parsed.RawID,
		ClientDataJSON:    parsed.Raw.AssertionResponse.ClientDataJSON,
		AuthenticatorData: parsed.Raw.AssertionResponse.AuthenticatorData,
		Signature:         parsed.Raw.AssertionResponse.Signature,
		UserHandle:        parsed.Raw.AssertionResponse.UserHandle,
		PublicKey:         cred.PublicKey,
	}, nil
}
