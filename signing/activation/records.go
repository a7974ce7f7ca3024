package activation

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// Record is one signature made: what the resident's history shows.
type Record struct {
	ID           string
	RequestID    string
	ResidentID   string
	ClientID     string
	ClientName   string
	ClientNameZh string
	CredentialID string
	CertSerial   string // hex
	HashOID      string
	Digest       []byte
	Label        string
	Format       string // "raw" (signHash), "CAdES-B-T", "PAdES-B-LT", "JAdES-B-T", …
	Evidence     []byte
	CreatedAt    time.Time
}

// Name is the service's name in lang.
func (r Record) Name(lang string) string {
	if lang == "zh-Hant" && r.ClientNameZh != "" {
		return r.ClientNameZh
	}
	return r.ClientName
}

// AddRecords stores the records of the signatures made for req.
func (s *Store) AddRecords(ctx context.Context, recs []Record) error {
	now := s.clock()
	for _, r := range recs {
		if r.ID == "" {
			r.ID = secret.Random(16)
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		_, err := s.db.ExecContext(ctx, `INSERT INTO signing_records
			(id, request_id, resident_id, client_id, client_name, client_name_zh, credential_id, cert_serial,
			 hash_alg, digest, label, format, evidence, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			r.ID, r.RequestID, r.ResidentID, r.ClientID, r.ClientName, r.ClientNameZh, r.CredentialID, r.CertSerial,
			r.HashOID, base64.StdEncoding.EncodeToString(r.Digest), r.Label, r.Format, string(r.Evidence), db.Timestamp{Time: r.CreatedAt})
		if err != nil {
			return fmt.Errorf("activation: record signature: %w", err)
		}
	}
	return nil
}

// Records returns the resident's signatures, newest first (at most limit,
// 1 to 500; 100 if limit ≤ 0).
func (s *Store) Records(ctx context.Context, residentID string, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	rows, err := s.db.QueryContext(ctx, `SELECT id, request_id, resident_id, client_id, client_name, client_name_zh,
		credential_id, cert_serial, hash_alg, digest, label, format, evidence, created_at
		FROM signing_records WHERE resident_id = $1 ORDER BY created_at DESC, id LIMIT $2`, residentID, limit)
	if err != nil {
		return nil, fmt.Errorf("activation: records: %w", err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var (
			r        Record
			digest   string
			evidence string
			at       db.Timestamp
		)
		if err := rows.Scan(&r.ID, &r.RequestID, &r.ResidentID, &r.ClientID, &r.ClientName, &r.ClientNameZh,
			&r.CredentialID, &r.CertSerial, &r.HashOID, &digest, &r.Label, &r.Format, &evidence, &at); err != nil {
			return nil, fmt.Errorf("activation: records: %w", err)
		}
		r.Digest, _ = base64.StdEncoding.DecodeString(digest)
		r.Evidence, r.CreatedAt = []byte(evidence), at.Time
		out = append(out, r)
	}
	return out, rows.Err()
}
