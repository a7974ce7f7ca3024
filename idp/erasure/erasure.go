package erasure

import (
	"context"
	"errors"
	"fmt"

	"eidp/idp/account"
	"eidp/idp/session"
	"eidp/vault"
)

// Eraser deletes accounts.
type Eraser struct {
	Accounts *account.Store
	Sessions *session.Manager
	Vault    *vault.Vault
	// RevokeCertificates revokes the resident's signing certificates
	// (cessationOfOperation) and destroys their wrapped keys; nil when
	// remote signing is not wired. The certificates' records stay, so that
	// CRLs and OCSP keep answering for them.
	RevokeCertificates func(ctx context.Context, residentID string) error
}

// DeleteAccount deletes the resident's account and their data as the
// package documentation describes. It is safe to call again after a
// failure part-way: each step is idempotent. An unknown resident is
// account.ErrNotFound.
func (e *Eraser) DeleteAccount(ctx context.Context, residentID string) error {
	if _, err := e.Accounts.Get(ctx, residentID); err != nil {
		return err
	}
	if e.RevokeCertificates != nil {
		if err := e.RevokeCertificates(ctx, residentID); err != nil {
			return fmt.Errorf("erasure: signing certificates: %w", err)
		}
	}
	if err := e.Vault.Erase(ctx, residentID); err != nil {
		return fmt.Errorf("erasure: vault: %w", err)
	}
	if _, err := e.Sessions.RevokeAll(ctx, residentID, ""); err != nil {
		return fmt.Errorf("erasure: sessions: %w", err)
	}
	if err := e.Accounts.Delete(ctx, residentID); err != nil && !errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("erasure: account: %w", err)
	}
	return nil
}
