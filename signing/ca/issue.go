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

	"eidp/hsm"
	"eidp/hsm/keyring"
	"eidp/internal/db"
)

// LevelHigh is the only assurance level (idp residents' assurance_level)
// that may hold a signing certificate.
const LevelHigh = "high"

// Certificate statuses.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked"
	// StatusExpired: never revoked, but past its notAfter.
	StatusExpired = "expired"
)

// IssueRequest asks for a resident's certificate. The names are those of
// the resident's verified identity; Level is their assurance level.
type IssueRequest struct {
	ResidentID, GivenName, FamilyName, Level string
}

// Certificate is a resident's certificate and its state.
type Certificate struct {
	ID, ResidentID string
	Serial         *big.Int
	Cert           *x509.Certificate
	// Status is StatusValid, StatusRevoked or StatusExpired.
	Status    string
	RevokedAt time.Time // zero unless revoked
	Reason    int       // RFC 5280 CRLReason, when revoked
	CreatedAt time.Time
	// Chain is the issuing CA's certificate, then the root's (not Cert).
	Chain []*x509.Certificate
}

// maxResidentID bounds resident IDs (ours are short opaque strings).
const maxResidentID = 128

// Issue makes a new certificate for a resident at assurance level high,
// with a new key pair generated in the HSM and kept wrapped under the
// signing-kek key. A valid certificate the resident already has is revoked
// as superseded: a resident has one valid certificate at a time. The
// subject's serialNumber is the resident's pseudonym, made at the first
// issuance and reused.
func (a *Authority) Issue(ctx context.Context, req IssueRequest) (Certificate, error) {
	if req.Level != LevelHigh {
		return Certificate{}, fmt.Errorf("%w (the resident is at %q)", ErrAssuranceTooLow, req.Level)
	}
	if req.ResidentID == "" || len(req.ResidentID) > maxResidentID {
		return Certificate{}, fmt.Errorf("%w: resident ID must have 1 to %d bytes", ErrInvalidRequest, maxResidentID)
	}
	if err := checkName("given name", req.GivenName); err != nil {
		return Certificate{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if err := checkName("family name", req.FamilyName); err != nil {
		return Certificate{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if err := checkName("common name", commonName(req.GivenName, req.FamilyName)); err != nil {
		return Certificate{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	kw, ok := hsm.KeyWrapperOf(a.km)
	if !ok {
		return Certificate{}, fmt.Errorf("%w (backend %s)", ErrNoKeyWrapper, a.km.Name())
	}
	cur, err := a.complete(ctx)
	if err != nil {
		return Certificate{}, err
	}
	issuing := cur[KindIssuing]
	now := a.clock().Truncate(time.Second)
	if err := checkValidity(issuing.cert, now); err != nil {
		return Certificate{}, fmt.Errorf("ca: issuing CA: %w", err)
	}
	issuerSigner, err := a.signer(ctx, keyring.CAResidents, issuing.keyID)
	if err != nil {
		return Certificate{}, err
	}
	pseudonym, err := a.pseudonym(ctx, req.ResidentID, now)
	if err != nil {
		return Certificate{}, err
	}
	kek, _, err := a.ring.Ensure(ctx, keyring.SigningKEK)
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: %w", err)
	}
	// The key is made outside any transaction: HSM key generation can take
	// a while and must not hold database locks.
	wrapped, err := kw.GenerateWrapped(ctx, kek.URI, a.cfg.ResidentKeyAlgorithm)
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: generate resident key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(wrapped.Public)
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: resident public key: %w", err)
	}
	subject, err := a.residentName(req.GivenName, req.FamilyName, pseudonym)
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: subject: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Certificate{}, err
	}
	tmpl, err := a.residentTemplate(serial, subject, wrapped.Public, now, issuing.cert.NotAfter)
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: resident certificate: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuing.cert, wrapped.Public, issuerSigner)
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: sign resident certificate: %w", err)
	}
	id, err := newID()
	if err != nil {
		return Certificate{}, err
	}
	var superseded bool
	err = a.db.InTx(ctx, func(tx *sql.Tx) error {
		superseded = false
		res, err := tx.ExecContext(ctx, `UPDATE signing_certificates
			SET status = 'revoked', wrapped_key = NULL, revoked_at = $1, reason = $2, revoked_by = $3
			WHERE resident_id = $4 AND status = 'valid'`,
			db.Timestamp{Time: now}, ReasonSuperseded, "ca:issue "+id, req.ResidentID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			superseded = true
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_certificates
			(id, resident_id, issuer_id, serial, der, not_before, not_after, key_algorithm, public_key, kek_id, wrapped_key, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'valid', $12)`,
			id, req.ResidentID, issuing.id, serialText(serial), der,
			db.Timestamp{Time: tmpl.NotBefore}, db.Timestamp{Time: tmpl.NotAfter},
			string(wrapped.Algorithm), spki, kek.ID, wrapped.Blob, db.Timestamp{Time: now})
		return err
	})
	if err != nil {
		return Certificate{}, fmt.Errorf("ca: record resident certificate: %w", err)
	}
	if superseded {
		a.refreshCRLAfterRevocation(ctx, issuing)
	}
	return a.Get(ctx, id)
}

// pseudonym returns the resident's pseudonym, making it at first use.
func (a *Authority) pseudonym(ctx context.Context, residentID string, now time.Time) (string, error) {
	for range 3 {
		var p string
		err := a.db.QueryRowContext(ctx, `SELECT pseudonym FROM signing_pseudonyms WHERE resident_id = $1`, residentID).Scan(&p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("ca: read pseudonym: %w", err)
		}
		if p, err = a.newPseudonym(); err != nil {
			return "", err
		}
		// ON CONFLICT DO NOTHING: a concurrent first issuance wins, and we
		// read its pseudonym on the next turn.
		if _, err := a.db.ExecContext(ctx, `INSERT INTO signing_pseudonyms (resident_id, pseudonym, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (resident_id) DO NOTHING`, residentID, p, db.Timestamp{Time: now}); err != nil && !db.IsUniqueViolation(err) {
			return "", fmt.Errorf("ca: record pseudonym: %w", err)
		}
	}
	return "", fmt.Errorf("ca: could not record a pseudonym for the resident")
}

const certColumns = `id, resident_id, issuer_id, der, status, revoked_at, reason, created_at`

type certRow struct {
	Certificate
	issuerID string
}

func (a *Authority) queryCerts(ctx context.Context, where string, args ...any) ([]Certificate, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT `+certColumns+` FROM signing_certificates `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("ca: read certificates: %w", err)
	}
	var list []certRow
	for rows.Next() {
		var (
			r       certRow
			der     []byte
			revoked sql.Null[db.Timestamp]
			reason  sql.NullInt64
			created db.Timestamp
		)
		if err := rows.Scan(&r.ID, &r.ResidentID, &r.issuerID, &der, &r.Status, &revoked, &reason, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ca: read certificates: %w", err)
		}
		if r.Cert, err = x509.ParseCertificate(der); err != nil {
			rows.Close()
			return nil, fmt.Errorf("ca: stored certificate %s: %w", r.ID, err)
		}
		r.Serial = r.Cert.SerialNumber
		r.CreatedAt = created.Time
		if revoked.Valid {
			r.RevokedAt = revoked.V.Time
		}
		r.Reason = int(reason.Int64)
		list = append(list, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("ca: read certificates: %w", err)
	}
	// Chains are looked up after the rows are closed: SQLite pools few
	// connections.
	now := a.clock()
	out := make([]Certificate, 0, len(list))
	for _, r := range list {
		issuer, err := a.caRowByID(ctx, r.issuerID)
		if err != nil {
			return nil, err
		}
		chain := []*x509.Certificate{issuer.cert}
		if issuer.issuerID != "" {
			root, err := a.caRowByID(ctx, issuer.issuerID)
			if err != nil {
				return nil, err
			}
			chain = append(chain, root.cert)
		}
		r.Chain = chain
		if r.Status == StatusValid && now.After(r.Cert.NotAfter) {
			r.Status = StatusExpired
		}
		out = append(out, r.Certificate)
	}
	return out, nil
}

// Certificates returns a resident's certificates, newest first.
func (a *Authority) Certificates(ctx context.Context, residentID string) ([]Certificate, error) {
	return a.queryCerts(ctx, `WHERE resident_id = $1 ORDER BY created_at DESC, id`, residentID)
}

// Current returns the resident's valid certificate, or ErrNoCertificate
// (also when it has expired).
func (a *Authority) Current(ctx context.Context, residentID string) (Certificate, error) {
	list, err := a.queryCerts(ctx, `WHERE resident_id = $1 AND status = 'valid'`, residentID)
	if err != nil {
		return Certificate{}, err
	}
	if len(list) == 0 || list[0].Status != StatusValid {
		return Certificate{}, ErrNoCertificate
	}
	return list[0], nil
}

// Get returns a certificate by ID.
func (a *Authority) Get(ctx context.Context, certID string) (Certificate, error) {
	list, err := a.queryCerts(ctx, `WHERE id = $1`, certID)
	if err != nil {
		return Certificate{}, err
	}
	if len(list) == 0 {
		return Certificate{}, fmt.Errorf("%w: %s", ErrNotFound, certID)
	}
	return list[0], nil
}

// Signer returns a signer for the key of a valid certificate: every
// signature unwraps the key inside the HSM. A revoked certificate yields
// ErrRevoked and one outside its validity ErrExpired.
func (a *Authority) Signer(ctx context.Context, certID string) (hsm.Signer, Certificate, error) {
	c, err := a.Get(ctx, certID)
	if err != nil {
		return nil, Certificate{}, err
	}
	if c.Status == StatusRevoked {
		return nil, Certificate{}, fmt.Errorf("%w: %s (%s)", ErrRevoked, certID, ReasonName(c.Reason))
	}
	if err := checkValidity(c.Cert, a.clock()); err != nil {
		return nil, Certificate{}, fmt.Errorf("certificate %s: %w", certID, err)
	}
	kw, ok := hsm.KeyWrapperOf(a.km)
	if !ok {
		return nil, Certificate{}, fmt.Errorf("%w (backend %s)", ErrNoKeyWrapper, a.km.Name())
	}
	var (
		alg, kekID string
		spki, blob []byte
	)
	err = a.db.QueryRowContext(ctx, `SELECT key_algorithm, public_key, kek_id, wrapped_key FROM signing_certificates WHERE id = $1 AND status = 'valid'`,
		certID).Scan(&alg, &spki, &kekID, &blob)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && blob == nil) {
		// Revoked between the two reads.
		return nil, Certificate{}, fmt.Errorf("%w: %s", ErrRevoked, certID)
	}
	if err != nil {
		return nil, Certificate{}, fmt.Errorf("ca: read key of %s: %w", certID, err)
	}
	algorithm, err := hsm.ParseAlgorithm(alg)
	if err != nil {
		return nil, Certificate{}, err
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, Certificate{}, fmt.Errorf("ca: stored public key of %s: %w", certID, err)
	}
	kek, err := a.keyOf(ctx, keyring.SigningKEK, kekID)
	if err != nil {
		return nil, Certificate{}, err
	}
	return hsm.NewWrappedSigner(kw, kek.URI, hsm.WrappedKey{Algorithm: algorithm, Public: pub, Blob: blob}), c, nil
}
