package passkey

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNicknameRunes bounds a credential's nickname.
const MaxNicknameRunes = 64

// List returns the resident's credentials, blocked ones included, oldest
// first (an empty list if there are none).
func (s *Service) List(ctx context.Context, residentID string) ([]Credential, error) {
	return listCredentials(ctx, s.db, residentID)
}

// Rename sets the nickname of one of the resident's credentials. The
// nickname is trimmed and may be empty; ErrInvalidNickname if it is longer
// than MaxNicknameRunes or holds control or bidirectional-override
// characters; ErrNotFound if the resident has no such credential.
func (s *Service) Rename(ctx context.Context, residentID string, credID []byte, nickname string) error {
	nickname, err := cleanNickname(nickname)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE passkey_credentials SET nickname = $3
		WHERE id = $1 AND resident_id = $2`, base64.RawURLEncoding.EncodeToString(credID), residentID, nickname)
	if err != nil {
		return fmt.Errorf("passkey: rename: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("passkey: rename: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Remove deletes one of the resident's credentials. Removing the last
// unblocked one would lock the resident out, so it fails with
// ErrLastCredential unless allowLast (for instance when the resident
// replaces it during recovery); blocked credentials can always be removed.
// ErrNotFound if the resident has no such credential.
func (s *Service) Remove(ctx context.Context, residentID string, credID []byte, allowLast bool) error {
	id := base64.RawURLEncoding.EncodeToString(credID)
	var outcome error
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		outcome = nil
		var blocked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT blocked_at FROM passkey_credentials
			WHERE id = $1 AND resident_id = $2`, id, residentID).Scan(&blocked)
		if isNoRows(err) {
			outcome = ErrNotFound
			return nil
		}
		if err != nil {
			return err
		}
		if !blocked.Valid && !allowLast {
			var usable int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM passkey_credentials
				WHERE resident_id = $1 AND blocked_at IS NULL`, residentID).Scan(&usable); err != nil {
				return err
			}
			if usable <= 1 {
				outcome = ErrLastCredential
				return nil
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM passkey_credentials WHERE id = $1 AND resident_id = $2`, id, residentID)
		return err
	})
	if err != nil {
		return fmt.Errorf("passkey: remove: %w", err)
	}
	return outcome
}

// RemoveAll deletes every credential of the resident — the recovery path
// when a phone is lost — and returns how many there were.
func (s *Service) RemoveAll(ctx context.Context, residentID string) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM passkey_credentials WHERE resident_id = $1`, residentID)
	if err != nil {
		return 0, fmt.Errorf("passkey: remove all: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("passkey: remove all: %w", err)
	}
	return int(n), nil
}

// cleanNickname trims a nickname and checks it: at most MaxNicknameRunes,
// valid UTF-8, no control characters, line or paragraph separators, or
// bidirectional controls (which could make one name look like another).
func cleanNickname(nickname string) (string, error) {
	nickname = strings.TrimSpace(nickname)
	if !utf8.ValidString(nickname) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidNickname)
	}
	if n := utf8.RuneCountInString(nickname); n > MaxNicknameRunes {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrInvalidNickname, n, MaxNicknameRunes)
	}
	for _, r := range nickname {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
			return "", fmt.Errorf("%w: control character U+%04X", ErrInvalidNickname, r)
		}
	}
	return nickname, nil
}
