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

// Kinds of the CA's own certificates (ca_certificates.kind).
const (
	KindRoot    = "root"
	KindIssuing = "issuing"
	KindTSA     = "tsa"
	KindOCSP    = "ocsp"
)

// Kinds lists the CA's certificate kinds, issuers first.
func Kinds() []string { return []string{KindRoot, KindIssuing, KindTSA, KindOCSP} }

var kindRole = map[string]keyring.Role{
	KindRoot:    keyring.CARoot,
	KindIssuing: keyring.CAResidents,
	KindTSA:     keyring.TSA,
	KindOCSP:    keyring.OCSP,
}

// caRow is one row of ca_certificates.
type caRow struct {
	id, kind, keyID, issuerID string
	cert                      *x509.Certificate
}

// CACertificate describes one current certificate of the CA, with the
// backend key it certifies (for `eidp ca show`).
type CACertificate struct {
	Kind   string
	Cert   *x509.Certificate
	KeyID  string // hsm_keys.id
	KeyURI string
}

// parse returns the parsed certificate of row id, parsing it once: rows
// never change.
func (a *Authority) parse(id string, der []byte) (*x509.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.parsed[id]; ok {
		return c, nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: stored certificate %s: %w", id, err)
	}
	a.parsed[id] = c
	return c, nil
}

func (a *Authority) scanCARows(rows *sql.Rows) ([]caRow, error) {
	defer rows.Close()
	var out []caRow
	for rows.Next() {
		var (
			r   caRow
			der []byte
		)
		if err := rows.Scan(&r.id, &r.kind, &r.keyID, &r.issuerID, &der); err != nil {
			return nil, fmt.Errorf("ca: read CA certificates: %w", err)
		}
		c, err := a.parse(r.id, der)
		if err != nil {
			return nil, err
		}
		r.cert = c
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ca: read CA certificates: %w", err)
	}
	return out, nil
}

const caColumns = `id, kind, key_id, COALESCE(issuer_id, ''), der`

// current returns the current certificate of each kind present.
func (a *Authority) current(ctx context.Context) (map[string]caRow, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT `+caColumns+` FROM ca_certificates WHERE replaced_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("ca: read CA certificates: %w", err)
	}
	list, err := a.scanCARows(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]caRow, len(list))
	for _, r := range list {
		out[r.kind] = r
	}
	return out, nil
}

// caRowByID returns any CA certificate, current or replaced.
func (a *Authority) caRowByID(ctx context.Context, id string) (caRow, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT `+caColumns+` FROM ca_certificates WHERE id = $1`, id)
	if err != nil {
		return caRow{}, fmt.Errorf("ca: read CA certificate: %w", err)
	}
	list, err := a.scanCARows(rows)
	if err != nil {
		return caRow{}, err
	}
	if len(list) == 0 {
		return caRow{}, fmt.Errorf("%w: CA certificate %s", ErrNotFound, id)
	}
	return list[0], nil
}

// complete returns the current rows if all four kinds exist.
func (a *Authority) complete(ctx context.Context) (map[string]caRow, error) {
	cur, err := a.current(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range Kinds() {
		if _, ok := cur[k]; !ok {
			return nil, ErrNotInitialised
		}
	}
	return cur, nil
}

// keyOf returns the registry entry of a role's key by ID.
func (a *Authority) keyOf(ctx context.Context, role keyring.Role, keyID string) (keyring.Key, error) {
	keys, err := a.ring.List(ctx, role)
	if err != nil {
		return keyring.Key{}, err
	}
	for _, k := range keys {
		if k.ID == keyID {
			return k, nil
		}
	}
	return keyring.Key{}, fmt.Errorf("ca: %s key %s is not in the key registry: %w", role, keyID, hsm.ErrKeyNotFound)
}

// signer returns (and keeps) the backend signer of a CA key.
func (a *Authority) signer(ctx context.Context, role keyring.Role, keyID string) (hsm.Signer, error) {
	a.mu.Lock()
	s, ok := a.signers[keyID]
	a.mu.Unlock()
	if ok {
		return s, nil
	}
	key, err := a.keyOf(ctx, role, keyID)
	if err != nil {
		return nil, err
	}
	s, err = a.km.Signer(ctx, key.URI)
	if err != nil {
		return nil, fmt.Errorf("ca: %s key %s: %w", role, keyID, err)
	}
	a.mu.Lock()
	a.signers[keyID] = s
	a.mu.Unlock()
	return s, nil
}

// Init creates what is missing of the hierarchy: the role keys (ca-root,
// ca-residents, tsa, ocsp, and signing-kek for residents' keys), the root
// certificate, the issuing CA's, the TSA's and the OCSP responder's, and
// both CRLs. It renews the OCSP and TSA certificates when less than 30 days
// are left or their role's active key changed (keys rotate). It is
// idempotent and safe when several nodes start at once.
func (a *Authority) Init(ctx context.Context) (Hierarchy, error) {
	if _, _, err := a.ring.Ensure(ctx, keyring.SigningKEK); err != nil {
		return Hierarchy{}, fmt.Errorf("ca: init: %w", err)
	}
	cur, err := a.current(ctx)
	if err != nil {
		return Hierarchy{}, err
	}
	now := a.clock().Truncate(time.Second)
	for _, kind := range Kinds() {
		role := kindRole[kind]
		key, _, err := a.ring.Ensure(ctx, role)
		if err != nil {
			return Hierarchy{}, fmt.Errorf("ca: init %s: %w", kind, err)
		}
		row, ok := cur[kind]
		switch {
		case !ok:
		case kind == KindRoot || kind == KindIssuing:
			// Re-keying a CA is an operator's ceremony, not a start-up step.
			continue
		case row.keyID == key.ID && row.cert.NotAfter.Sub(now) >= renewBefore:
			continue
		}
		var issuer *caRow
		if kind != KindRoot {
			parent := KindIssuing
			if kind == KindIssuing {
				parent = KindRoot
			}
			p := cur[parent]
			issuer = &p
		}
		made, err := a.certify(ctx, kind, key, issuer, row.id, now)
		if err != nil {
			return Hierarchy{}, err
		}
		cur[kind] = made
	}
	for _, kind := range []string{KindRoot, KindIssuing} {
		if _, err := a.crl(ctx, cur[kind]); err != nil {
			return Hierarchy{}, err
		}
	}
	return a.Hierarchy(ctx)
}

// certify issues a CA certificate of kind for key, signed by issuer (nil:
// self-signed), replacing the row replaces ("" if none). If another node
// certified the kind meanwhile, its certificate is returned instead.
func (a *Authority) certify(ctx context.Context, kind string, key keyring.Key, issuer *caRow, replaces string, now time.Time) (caRow, error) {
	subjectSigner, err := a.signer(ctx, kindRole[kind], key.ID)
	if err != nil {
		return caRow{}, err
	}
	pub := subjectSigner.Public()
	serial, err := newSerial()
	if err != nil {
		return caRow{}, err
	}
	var (
		tmpl  *x509.Certificate
		limit time.Time
	)
	if issuer != nil {
		limit = issuer.cert.NotAfter
	}
	switch kind {
	case KindRoot:
		tmpl, err = a.rootTemplate(serial, pub, now)
	case KindIssuing:
		tmpl, err = a.issuingTemplate(serial, pub, now, limit)
	case KindTSA:
		tmpl, err = a.tsaTemplate(serial, pub, now, limit)
	case KindOCSP:
		tmpl, err = a.ocspTemplate(serial, pub, now, limit)
	}
	if err != nil {
		return caRow{}, fmt.Errorf("ca: %s certificate: %w", kind, err)
	}
	parent, parentSigner := tmpl, hsm.Signer(subjectSigner)
	var issuerID sql.NullString
	if issuer != nil {
		parent = issuer.cert
		if parentSigner, err = a.signer(ctx, kindRole[issuer.kind], issuer.keyID); err != nil {
			return caRow{}, err
		}
		issuerID = sql.NullString{String: issuer.id, Valid: true}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentSigner)
	if err != nil {
		return caRow{}, fmt.Errorf("ca: sign %s certificate: %w", kind, err)
	}
	id, err := newID()
	if err != nil {
		return caRow{}, err
	}
	err = a.db.InTx(ctx, func(tx *sql.Tx) error {
		if replaces != "" {
			res, err := tx.ExecContext(ctx, `UPDATE ca_certificates SET replaced_at = $1 WHERE id = $2 AND replaced_at IS NULL`,
				db.Timestamp{Time: now}, replaces)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return errConcurrentUpdate
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ca_certificates (id, kind, key_id, issuer_id, serial, der, not_before, not_after, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			id, kind, key.ID, issuerID, serialText(serial), der,
			db.Timestamp{Time: tmpl.NotBefore}, db.Timestamp{Time: tmpl.NotAfter}, db.Timestamp{Time: now})
		return err
	})
	if errors.Is(err, errConcurrentUpdate) || db.IsUniqueViolation(err) {
		cur, cerr := a.current(ctx)
		if cerr != nil {
			return caRow{}, cerr
		}
		if r, ok := cur[kind]; ok {
			return r, nil
		}
	}
	if err != nil {
		return caRow{}, fmt.Errorf("ca: record %s certificate: %w", kind, err)
	}
	return a.caRowByID(ctx, id)
}

// Hierarchy returns the current certificates, or ErrNotInitialised.
func (a *Authority) Hierarchy(ctx context.Context) (Hierarchy, error) {
	cur, err := a.complete(ctx)
	if err != nil {
		return Hierarchy{}, err
	}
	return Hierarchy{Root: cur[KindRoot].cert, Issuing: cur[KindIssuing].cert, TSA: cur[KindTSA].cert, OCSP: cur[KindOCSP].cert}, nil
}

// Details returns the current certificates with their keys, issuers first.
func (a *Authority) Details(ctx context.Context) ([]CACertificate, error) {
	cur, err := a.complete(ctx)
	if err != nil {
		return nil, err
	}
	var out []CACertificate
	for _, kind := range Kinds() {
		r := cur[kind]
		key, err := a.keyOf(ctx, kindRole[kind], r.keyID)
		if err != nil {
			return nil, err
		}
		out = append(out, CACertificate{Kind: kind, Cert: r.cert, KeyID: r.keyID, KeyURI: key.URI})
	}
	return out, nil
}

// TSA returns the time-stamping key, its certificate and the chain above
// it (the issuing CA's certificate; the root is the trust anchor). It
// refuses a certificate outside its validity (ErrExpired).
func (a *Authority) TSA(ctx context.Context) (hsm.Signer, *x509.Certificate, []*x509.Certificate, error) {
	cur, err := a.complete(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	r := cur[KindTSA]
	if err := checkValidity(r.cert, a.clock()); err != nil {
		return nil, nil, nil, fmt.Errorf("ca: TSA certificate: %w (run `eidp ca init` to renew it)", err)
	}
	s, err := a.signer(ctx, keyring.TSA, r.keyID)
	if err != nil {
		return nil, nil, nil, err
	}
	return s, r.cert, []*x509.Certificate{cur[KindIssuing].cert}, nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("%w: valid %s to %s", ErrExpired, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// bigSerial parses a stored serial.
func bigSerial(s string) (*big.Int, error) {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return nil, fmt.Errorf("ca: stored serial %q is not hexadecimal", s)
	}
	return n, nil
}
