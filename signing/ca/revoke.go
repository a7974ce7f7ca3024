package ca

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"eidp/internal/db"
)

// maxActor bounds the actor recorded with a revocation.
const maxActor = 200

func checkRevocation(reason int, actor string) error {
	if _, ok := allowedReasons[reason]; !ok {
		return fmt.Errorf("%w: %d (RFC 5280 codes 0, 1, 3, 4, 5; certificateHold is not used)", ErrBadReason, reason)
	}
	if actor == "" || len(actor) > maxActor {
		return fmt.Errorf("%w: the actor must have 1 to %d bytes", ErrInvalidRequest, maxActor)
	}
	return nil
}

// Revoke revokes a resident's certificate for good: the row records when,
// why (an RFC 5280 §5.3.1 reason) and who (actor, for the audit), its
// wrapped private key is erased so that it can never sign again, and the
// issuing CA's CRL is regenerated. Revoking a revoked certificate returns
// ErrAlreadyRevoked and changes nothing.
func (a *Authority) Revoke(ctx context.Context, certID string, reason int, actor string) error {
	if err := checkRevocation(reason, actor); err != nil {
		return err
	}
	now := a.clock()
	var issuerID string
	err := a.db.InTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status, issuer_id FROM signing_certificates WHERE id = $1`, certID).Scan(&status, &issuerID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNotFound, certID)
		}
		if err != nil {
			return err
		}
		if status == StatusRevoked {
			return fmt.Errorf("%w: %s", ErrAlreadyRevoked, certID)
		}
		res, err := tx.ExecContext(ctx, `UPDATE signing_certificates
			SET status = 'revoked', wrapped_key = NULL, revoked_at = $1, reason = $2, revoked_by = $3
			WHERE id = $4 AND status = 'valid'`, db.Timestamp{Time: now}, reason, actor, certID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("%w: %s", ErrAlreadyRevoked, certID)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyRevoked) {
			return err
		}
		return fmt.Errorf("ca: revoke %s: %w", certID, err)
	}
	if issuer, err := a.caRowByID(ctx, issuerID); err != nil {
		a.log.ErrorContext(ctx, "ca: CRL not regenerated after a revocation; it will be at the next request", "cert", certID, "err", err)
	} else {
		a.refreshCRLAfterRevocation(ctx, issuer)
	}
	return nil
}

// RevokeResident revokes every certificate of a resident that is not yet
// revoked (account deletion, lost device) and reports how many it revoked.
// The certificates' records stay for the CRL and OCSP.
func (a *Authority) RevokeResident(ctx context.Context, residentID string, reason int, actor string) (int, error) {
	if err := checkRevocation(reason, actor); err != nil {
		return 0, err
	}
	now := a.clock()
	var (
		issuers []string
		n       int64
	)
	err := a.db.InTx(ctx, func(tx *sql.Tx) error {
		issuers, n = issuers[:0], 0
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT issuer_id FROM signing_certificates WHERE resident_id = $1 AND status = 'valid'`, residentID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			issuers = append(issuers, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE signing_certificates
			SET status = 'revoked', wrapped_key = NULL, revoked_at = $1, reason = $2, revoked_by = $3
			WHERE resident_id = $4 AND status = 'valid'`, db.Timestamp{Time: now}, reason, actor, residentID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ca: revoke certificates of a resident: %w", err)
	}
	for _, id := range issuers {
		issuer, err := a.caRowByID(ctx, id)
		if err != nil {
			a.log.ErrorContext(ctx, "ca: CRL not regenerated after a revocation; it will be at the next request", "err", err)
			continue
		}
		a.refreshCRLAfterRevocation(ctx, issuer)
	}
	return int(n), nil
}

// Status is what the CA knows of a serial number.
type Status struct {
	// Known: the issuing CA issued a certificate with this serial (a
	// resident's, the TSA's or the OCSP responder's).
	Known     bool
	Revoked   bool
	RevokedAt time.Time
	Reason    int
	// NotAfter is the certificate's expiry, when Known.
	NotAfter time.Time
}

// Status returns the revocation status of a certificate issued by the
// issuing CA, by serial number.
func (a *Authority) Status(ctx context.Context, serial *big.Int) (Status, error) {
	if serial == nil || serial.Sign() <= 0 {
		return Status{}, nil
	}
	s := serialText(serial)
	var (
		st       Status
		revoked  sql.Null[db.Timestamp]
		reason   sql.NullInt64
		notAfter db.Timestamp
	)
	err := a.db.QueryRowContext(ctx, `SELECT revoked_at, reason, not_after FROM signing_certificates WHERE serial = $1`, s).
		Scan(&revoked, &reason, &notAfter)
	if errors.Is(err, sql.ErrNoRows) {
		err = a.db.QueryRowContext(ctx, `SELECT revoked_at, reason, not_after FROM ca_certificates WHERE serial = $1 AND kind IN ('tsa', 'ocsp')`, s).
			Scan(&revoked, &reason, &notAfter)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("ca: certificate status: %w", err)
	}
	st.Known, st.NotAfter = true, notAfter.Time
	if revoked.Valid {
		st.Revoked, st.RevokedAt, st.Reason = true, revoked.V.Time, int(reason.Int64)
	}
	return st, nil
}
