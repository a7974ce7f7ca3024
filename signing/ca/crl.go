package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"eidp/internal/db"
)

// storedCRL is a row of ca_crls.
type storedCRL struct {
	found              bool
	number, covers     int64
	thisUpdate, nextUp time.Time
	der                []byte
}

func (a *Authority) readCRL(ctx context.Context, issuerID string) (storedCRL, error) {
	var (
		s          storedCRL
		this, next db.Timestamp
	)
	err := a.db.QueryRowContext(ctx, `SELECT number, covers, this_update, next_update, der FROM ca_crls WHERE issuer_id = $1`, issuerID).
		Scan(&s.number, &s.covers, &this, &next, &s.der)
	if errors.Is(err, sql.ErrNoRows) {
		return storedCRL{}, nil
	}
	if err != nil {
		return storedCRL{}, fmt.Errorf("ca: read CRL: %w", err)
	}
	s.found, s.thisUpdate, s.nextUp = true, this.Time, next.Time
	return s, nil
}

// revocations returns the entries of issuer's CRL at now, and how many
// revocations of issuer there are in all (expired certificates included;
// RFC 5280 §3.3 lets a CRL drop them).
func (a *Authority) revocations(ctx context.Context, issuerID string, now time.Time) ([]x509.RevocationListEntry, int64, error) {
	rows, err := a.db.QueryContext(ctx, `
		SELECT serial, revoked_at, reason, not_after FROM signing_certificates WHERE issuer_id = $1 AND status = 'revoked'
		UNION ALL
		SELECT serial, revoked_at, reason, not_after FROM ca_certificates WHERE issuer_id = $1 AND revoked_at IS NOT NULL`, issuerID)
	if err != nil {
		return nil, 0, fmt.Errorf("ca: read revocations: %w", err)
	}
	defer rows.Close()
	var (
		entries []x509.RevocationListEntry
		count   int64
	)
	for rows.Next() {
		var (
			serial          string
			revoked, expiry db.Timestamp
			reason          int
		)
		if err := rows.Scan(&serial, &revoked, &reason, &expiry); err != nil {
			return nil, 0, fmt.Errorf("ca: read revocations: %w", err)
		}
		count++
		if expiry.Before(now) {
			continue
		}
		n, err := bigSerial(serial)
		if err != nil {
			return nil, 0, err
		}
		// ReasonCode 0 (unspecified) leaves the reasonCode extension out,
		// as RFC 5280 §5.3.1 asks.
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: revoked.Time, ReasonCode: reason})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("ca: read revocations: %w", err)
	}
	return entries, count, nil
}

// crl returns issuer's current CRL, regenerating it first when it does not
// cover every revocation or less than half of its validity is left. The
// CRL number grows by one with each regeneration; of nodes regenerating at
// once, one wins and the others serve its CRL.
func (a *Authority) crl(ctx context.Context, issuer caRow) ([]byte, error) {
	validity := a.cfg.CRLValidity
	if issuer.kind == KindRoot {
		validity = a.cfg.RootCRLValidity
	}
	for range 5 {
		stored, err := a.readCRL(ctx, issuer.id)
		if err != nil {
			return nil, err
		}
		now := a.clock().Truncate(time.Second)
		entries, count, err := a.revocations(ctx, issuer.id, now)
		if err != nil {
			return nil, err
		}
		half := stored.thisUpdate.Add(stored.nextUp.Sub(stored.thisUpdate) / 2)
		if stored.found && stored.covers == count && now.Before(half) {
			return stored.der, nil
		}
		signer, err := a.signer(ctx, kindRole[issuer.kind], issuer.keyID)
		if err != nil {
			return nil, err
		}
		number := stored.number + 1
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number:                    big.NewInt(number),
			ThisUpdate:                now,
			NextUpdate:                now.Add(validity),
			RevokedCertificateEntries: entries,
		}, issuer.cert, signer)
		if err != nil {
			return nil, fmt.Errorf("ca: sign CRL of %s: %w", issuer.kind, err)
		}
		var res sql.Result
		if stored.found {
			res, err = a.db.ExecContext(ctx, `UPDATE ca_crls SET number = $1, this_update = $2, next_update = $3, covers = $4, der = $5
				WHERE issuer_id = $6 AND number = $7`,
				number, db.Timestamp{Time: now}, db.Timestamp{Time: now.Add(validity)}, count, der, issuer.id, stored.number)
		} else {
			res, err = a.db.ExecContext(ctx, `INSERT INTO ca_crls (issuer_id, number, this_update, next_update, covers, der)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer_id) DO NOTHING`,
				issuer.id, number, db.Timestamp{Time: now}, db.Timestamp{Time: now.Add(validity)}, count, der)
		}
		if err != nil {
			return nil, fmt.Errorf("ca: store CRL of %s: %w", issuer.kind, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("ca: store CRL of %s: %w", issuer.kind, err)
		} else if n == 1 {
			return der, nil
		}
		// Another node stored a CRL meanwhile: look again.
	}
	return nil, fmt.Errorf("ca: CRL of %s: %w", issuer.kind, errConcurrentUpdate)
}

// refreshCRLAfterRevocation regenerates issuer's CRL after a committed
// revocation. A failure is logged, not returned: the revocation stands, and
// the next CRL request regenerates it (the stored CRL no longer covers every
// revocation).
func (a *Authority) refreshCRLAfterRevocation(ctx context.Context, issuer caRow) {
	if _, err := a.crl(context.WithoutCancel(ctx), issuer); err != nil {
		a.log.ErrorContext(ctx, "ca: CRL not regenerated after a revocation; it will be at the next request", "issuer", issuer.kind, "err", err)
	}
}

// CRL returns the issuing CA's current CRL (DER), regenerating it when due.
func (a *Authority) CRL(ctx context.Context) ([]byte, error) {
	return a.crlOf(ctx, KindIssuing)
}

// RootCRL returns the root's current CRL (DER), which lists revoked CA
// certificates (usually none), regenerating it when due.
func (a *Authority) RootCRL(ctx context.Context) ([]byte, error) {
	return a.crlOf(ctx, KindRoot)
}

func (a *Authority) crlOf(ctx context.Context, kind string) ([]byte, error) {
	cur, err := a.complete(ctx)
	if err != nil {
		return nil, err
	}
	return a.crl(ctx, cur[kind])
}
