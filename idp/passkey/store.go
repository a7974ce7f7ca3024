package passkey

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"eidp/internal/db"
)

// SQL for passkey_credentials and webauthn_challenges, in the subset both
// engines run ($n placeholders, RETURNING). Booleans are bound as Go bools:
// PostgreSQL stores BOOLEAN, SQLite the INTEGER 0/1 its CHECK allows, and
// both scan back into bool.

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const credentialColumns = `id, resident_id, public_key, aaguid, attestation_format, sign_count,
	backup_eligible, backup_state, transports, nickname, created_at, last_used_at, blocked_at,
	blocked_reason, sign_count_regressed_at`

type scanner interface{ Scan(dest ...any) error }

func scanCredential(r scanner) (Credential, error) {
	var (
		c                            Credential
		id, aaguid, transports       string
		signCount                    int64
		created                      db.Timestamp
		lastUsed, blocked, regressed sql.Null[db.Timestamp]
	)
	err := r.Scan(&id, &c.ResidentID, &c.PublicKey, &aaguid, &c.AttestationFormat, &signCount,
		&c.BackupEligible, &c.BackupState, &transports, &c.Nickname, &created, &lastUsed, &blocked,
		&c.BlockedReason, &regressed)
	if err != nil {
		return Credential{}, err
	}
	if c.ID, err = base64.RawURLEncoding.DecodeString(id); err != nil {
		return Credential{}, fmt.Errorf("passkey: stored credential ID %q: %w", id, err)
	}
	if c.AAGUID, err = uuid.Parse(aaguid); err != nil {
		return Credential{}, fmt.Errorf("passkey: stored AAGUID of %s: %w", id, err)
	}
	if signCount < 0 || signCount > int64(^uint32(0)) {
		return Credential{}, fmt.Errorf("passkey: stored sign count of %s out of range: %d", id, signCount)
	}
	c.SignCount = uint32(signCount)
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.CreatedAt = created.Time
	c.LastUsedAt = nullTime(lastUsed)
	c.BlockedAt = nullTime(blocked)
	c.SignCountRegressedAt = nullTime(regressed)
	return c, nil
}

func nullTime(t sql.Null[db.Timestamp]) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.V.Time
}

// getCredential returns the credential with the given ID, or sql.ErrNoRows.
func getCredential(ctx context.Context, q querier, id []byte) (Credential, error) {
	row := q.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM passkey_credentials WHERE id = $1`,
		base64.RawURLEncoding.EncodeToString(id))
	return scanCredential(row)
}

// listCredentials returns a resident's credentials, oldest first.
func listCredentials(ctx context.Context, q querier, residentID string) ([]Credential, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+credentialColumns+` FROM passkey_credentials
		WHERE resident_id = $1 ORDER BY created_at, id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("passkey: list credentials: %w", err)
	}
	defer rows.Close()
	var creds []Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("passkey: list credentials: %w", err)
	}
	return creds, nil
}

func insertCredential(ctx context.Context, q querier, c Credential) error {
	_, err := q.ExecContext(ctx, `INSERT INTO passkey_credentials (id, resident_id, public_key, aaguid,
		attestation_format, sign_count, backup_eligible, backup_state, transports, nickname, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.IDString(), c.ResidentID, c.PublicKey, c.AAGUID.String(), c.AttestationFormat, int64(c.SignCount),
		c.BackupEligible, c.BackupState, strings.Join(c.Transports, ","), c.Nickname, db.Timestamp{Time: c.CreatedAt})
	return err
}

// InsertCredential stores a credential made outside a registration
// ceremony, in the caller's transaction: for seeding a development or
// benchmark database with residents whose passkeys a load generator holds
// (bench/seed). Nothing about c is verified — no attestation, no policy —
// so it must never be reachable from a request. c needs an ID, a resident
// and a COSE public key; a credential ID that exists already is an error
// that db.IsUniqueViolation recognises.
func InsertCredential(ctx context.Context, tx *sql.Tx, c Credential) error {
	if len(c.ID) == 0 || c.ResidentID == "" || len(c.PublicKey) == 0 {
		return errors.New("passkey: insert credential: ID, resident and public key are required")
	}
	if err := insertCredential(ctx, tx, c); err != nil {
		return fmt.Errorf("passkey: insert credential: %w", err)
	}
	return nil
}

// Challenges.

func insertChallenge(ctx context.Context, q querier, id, flowHash, purpose, residentID, data string, expires time.Time) error {
	var resident sql.NullString
	if residentID != "" {
		resident = sql.NullString{String: residentID, Valid: true}
	}
	_, err := q.ExecContext(ctx, `INSERT INTO webauthn_challenges (id, flow_id, purpose, resident_id, data, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, id, flowHash, purpose, resident, data, db.Timestamp{Time: expires})
	if err != nil {
		return fmt.Errorf("passkey: store challenge: %w", err)
	}
	return nil
}

// challengeRow is a pending ceremony.
type challengeRow struct {
	residentID string
	data       string
	expires    time.Time
}

// getChallenge returns the challenge row with this ID, flow and purpose, or
// sql.ErrNoRows.
func getChallenge(ctx context.Context, q querier, id, flowHash, purpose string) (challengeRow, error) {
	var (
		c        challengeRow
		resident sql.NullString
		expires  db.Timestamp
	)
	err := q.QueryRowContext(ctx, `SELECT resident_id, data, expires_at FROM webauthn_challenges
		WHERE id = $1 AND flow_id = $2 AND purpose = $3`, id, flowHash, purpose).Scan(&resident, &c.data, &expires)
	if err != nil {
		return challengeRow{}, err
	}
	c.residentID = resident.String
	c.expires = expires.Time
	return c, nil
}

// deleteChallenge deletes a challenge row and reports whether it was still
// there. Of two transactions deleting the same row, one sees it gone (on
// PostgreSQL the loser fails to serialize and InTx retries it).
func deleteChallenge(ctx context.Context, q querier, id, flowHash, purpose string) (bool, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM webauthn_challenges
		WHERE id = $1 AND flow_id = $2 AND purpose = $3`, id, flowHash, purpose)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func sweepChallenges(ctx context.Context, q querier, now time.Time) error {
	_, err := q.ExecContext(ctx, `DELETE FROM webauthn_challenges WHERE expires_at <= $1`, db.Timestamp{Time: now})
	return err
}

// isNoRows reports whether err is database/sql's "no rows".
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
