package csc

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"eidp/idp/interaction"
	"eidp/signing/activation"
	"eidp/signing/ca"
)

// The OAuth route: Service implements interaction.Signing for the
// provider's authorization endpoint.
var _ interaction.Signing = (*Service)(nil)

// BeginSigning creates the signing request of a credential authorization
// once the resident is known.
func (s *Service) BeginSigning(ctx context.Context, clientID, residentID string, a interaction.SigningAuthorization) (string, error) {
	c, err := s.CA.Get(ctx, a.CredentialID)
	if errors.Is(err, ca.ErrNotFound) || err == nil && c.ResidentID != residentID {
		return "", fmt.Errorf("%w: credentialID is not a credential of this resident", interaction.ErrSigningRefused)
	}
	if err != nil {
		return "", err
	}
	if c.Status != ca.StatusValid {
		return "", fmt.Errorf("%w: the credential is %s", interaction.ErrSigningRefused, c.Status)
	}
	hash, err := activation.ParseHashOID(a.HashAlgorithmOID)
	if err != nil {
		return "", fmt.Errorf("%w: hashAlgorithmOID is not SHA-256, SHA-384 or SHA-512", interaction.ErrSigningRefused)
	}
	docs := make([]activation.Document, len(a.Documents))
	for i, d := range a.Documents {
		docs[i] = activation.Document{Label: d.Label, Hash: d.Hash}
	}
	req, _, err := s.createRequest(ctx, activation.RouteOAuth, clientID, residentID, c.ID, hash, docs, a.Description)
	var ae *apiError
	if errors.As(err, &ae) {
		return "", fmt.Errorf("%w: %s", interaction.ErrSigningRefused, ae.desc)
	}
	if err != nil {
		return "", err
	}
	return req.ID, nil
}

// SigningState reports the request's state to the provider.
func (s *Service) SigningState(ctx context.Context, id, residentID string) (string, error) {
	req, err := s.Activations.Get(ctx, id)
	if errors.Is(err, activation.ErrNotFound) {
		return interaction.SigningExpired, nil
	}
	if err != nil {
		return "", err
	}
	if req.ResidentID != residentID {
		return interaction.SigningExpired, nil
	}
	switch req.State {
	case activation.StatePending:
		if !s.opts.SigningClock().Before(req.ExpiresAt) {
			return interaction.SigningExpired, nil
		}
		return interaction.SigningPending, nil
	case activation.StateApproved:
		if req.GrantID != "" || !s.opts.SigningClock().Before(req.SADExpiresAt) {
			return interaction.SigningExpired, nil
		}
		return interaction.SigningApproved, nil
	case activation.StateDenied:
		return interaction.SigningDenied, nil
	}
	return interaction.SigningExpired, nil
}

// BindSigning ties the approved request to the grant of the code just issued.
func (s *Service) BindSigning(ctx context.Context, id, grantID string) error {
	return s.Activations.BindGrant(ctx, id, grantID)
}

// ApprovalPath is the approval page of a request.
func (s *Service) ApprovalPath(id string) string { return ApprovalPage + "?id=" + url.QueryEscape(id) }
