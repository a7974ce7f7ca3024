package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"eidp/internal/db"
)

// Recovery codes.
//
// A code is 16 characters from recoveryAlphabet, shown in four groups of
// four ("ABCD-EFGH-JKMN-PQRS"). The alphabet leaves out 0/O, 1/I/L, which
// are confused when read aloud or copied from paper; 31 symbols remain (all
// the others of A–Z and 2–9), so a code carries 16·log2(31) ≈ 79.3 bits.
// That is short of 80 by 0.7 bit: with these 31 symbols, 80 bits would need a
// 17th character. Online, codes are single use and guessed against 10 per
// resident under the login rate limit; offline (a stolen table), each hash is
// bound to its resident (see hashRecoveryCode), so one guess tests one
// resident's ten codes, not every resident's — about 2^76 SHA-256 work per
// resident.
const (
	recoveryAlphabet  = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
	recoveryCodeLen   = 16
	recoveryGroupLen  = 4
	recoveryCodeCount = 10
	// maxRecoveryInput bounds what UseRecoveryCode reads: a code with
	// generous spacing, not a request body.
	maxRecoveryInput = 64
)

// NewRecoveryCodes issues a fresh set of 10 recovery codes for the resident,
// replacing (deleting) any earlier set, and records
// KindRecoveryCodesIssued in the same transaction. The codes are returned
// formatted for display, to be shown once; only their hashes are stored. It
// returns ErrNotFound for an unknown resident.
func (s *Store) NewRecoveryCodes(ctx context.Context, residentID string) ([]string, error) {
	codes := make([]string, recoveryCodeCount)
	hashes := make([]string, recoveryCodeCount)
	for i := range codes {
		raw := randomRecoveryCode()
		codes[i] = formatRecoveryCode(raw)
		hashes[i] = hashRecoveryCode(residentID, raw)
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM residents WHERE id = $1`, residentID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE resident_id = $1`, residentID); err != nil {
			return err
		}
		now := s.timestamp()
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (resident_id, code_hash, created_at)
				VALUES ($1, $2, $3)`, residentID, h, db.Timestamp{Time: now}); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, residentID, KindRecoveryCodesIssued,
			map[string]string{"count": strconv.Itoa(recoveryCodeCount)}, now)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("account: new recovery codes: %w", err)
	}
	return codes, nil
}

// UseRecoveryCode spends one of the resident's recovery codes. The code is
// normalised first (case, spaces and dashes do not matter). It succeeds once
// per code: the code is marked used by a single conditional UPDATE in a
// serializable transaction, so of two concurrent uses exactly one wins. On
// success it records KindRecovered (detail: method "recovery_code" and the
// codes left) in the same transaction. Every failure — malformed, unknown,
// used, replaced, unknown resident — is ErrBadRecoveryCode; database errors
// are wrapped as they are.
//
// The caller must rate-limit attempts per resident and per client.
func (s *Store) UseRecoveryCode(ctx context.Context, residentID, code string) error {
	raw, ok := normalizeRecoveryCode(code)
	if !ok || residentID == "" || len(residentID) > maxKeyLen {
		return ErrBadRecoveryCode
	}
	hash := hashRecoveryCode(residentID, raw)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.timestamp()
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1
			WHERE resident_id = $2 AND code_hash = $3 AND used_at IS NULL`,
			db.Timestamp{Time: now}, residentID, hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrBadRecoveryCode
		}
		left, err := codesLeft(ctx, tx, residentID)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, residentID, KindRecovered,
			map[string]string{"method": "recovery_code", "codes_left": strconv.Itoa(left)}, now)
	})
	if err != nil && !errors.Is(err, ErrBadRecoveryCode) {
		return fmt.Errorf("account: use recovery code: %w", err)
	}
	return err
}

// RecoveryCodesLeft returns how many of the resident's current recovery
// codes are unused (0 for an unknown resident).
func (s *Store) RecoveryCodesLeft(ctx context.Context, residentID string) (int, error) {
	n, err := codesLeft(ctx, s.db, residentID)
	if err != nil {
		return 0, fmt.Errorf("account: recovery codes left: %w", err)
	}
	return n, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func codesLeft(ctx context.Context, q queryRower, residentID string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes
		WHERE resident_id = $1 AND used_at IS NULL`, residentID).Scan(&n)
	return n, err
}

// randomRecoveryCode returns recoveryCodeLen symbols drawn uniformly from
// recoveryAlphabet (rejection sampling: bytes ≥ 248 = 8·31 are redrawn, so
// no symbol is favoured).
func randomRecoveryCode() string {
	const limit = 256 - 256%len(recoveryAlphabet)
	out := make([]byte, 0, recoveryCodeLen)
	buf := make([]byte, 2*recoveryCodeLen)
	for len(out) < recoveryCodeLen {
		rand.Read(buf) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			if int(b) < limit && len(out) < recoveryCodeLen {
				out = append(out, recoveryAlphabet[int(b)%len(recoveryAlphabet)])
			}
		}
	}
	return string(out)
}

// formatRecoveryCode splits a raw code into dash-separated groups of four.
func formatRecoveryCode(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i += recoveryGroupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(raw[i:min(i+recoveryGroupLen, len(raw))])
	}
	return b.String()
}

// normalizeRecoveryCode upper-cases the code and drops spaces and dashes
// (ASCII and the Unicode dashes and spaces phones insert when pasting); it
// reports whether the rest is recoveryCodeLen symbols of the alphabet.
func normalizeRecoveryCode(code string) (string, bool) {
	if len(code) > maxRecoveryInput {
		return "", false
	}
	var b strings.Builder
	for _, r := range code {
		switch r {
		case ' ', '\t', '-', '\u00a0', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212', '\u3000':
			continue
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(recoveryAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != recoveryCodeLen {
		return "", false
	}
	return b.String(), true
}

// hashRecoveryCode returns hex(SHA-256(domain ‖ residentID ‖ 0 ‖ raw)). The
// resident ID acts as a salt: a guess at a stolen table can only be tested
// against one resident's codes, and a code cannot be moved to another
// account's rows.
func hashRecoveryCode(residentID, raw string) string {
	h := sha256.New()
	h.Write([]byte("eidp recovery code v1\x00"))
	h.Write([]byte(residentID))
	h.Write([]byte{0})
	h.Write([]byte(raw))
	return hex.EncodeToString(h.Sum(nil))
}

// RegistrationCompleted reports whether the resident ever finished
// registering: recovery codes are issued with the first passkey and their
// rows stay (used or not) for the life of the account. An account without
// them is an abandoned registration that identity proofing may resume; an
// account with them never is — not even while it has no passkey during a
// recovery — so proofing alone can never take it over.
func (s *Store) RegistrationCompleted(ctx context.Context, residentID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE resident_id = $1`, residentID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("account: registration state: %w", err)
	}
	return n > 0, nil
}
