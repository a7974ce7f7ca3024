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
}

// DeleteAccount deletes the resident's account and their data as the
// package documentation describes. It is safe to call again after a
// failure part-way: each step is idempotent. An unknown resident is
// account.ErrNotFound.
func (e *Eraser) DeleteAccount(ctx context.Context, residentID string) error {
	if _, err := e.Accounts.Get(ctx, residentID); err != nil {
		return err
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
