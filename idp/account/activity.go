package account

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// Kind names an event in the activity log.
type Kind string

// The events other packages record. Detail keys are the recorder's choice;
// the values must never be personal data, tokens or secrets.
const (
	KindRegistered          Kind = "registered"
	KindLogin               Kind = "login"
	KindPasskeyAdded        Kind = "passkey_added"
	KindPasskeyRemoved      Kind = "passkey_removed"
	KindPasskeyRenamed      Kind = "passkey_renamed"
	KindPasskeyBlocked      Kind = "passkey_blocked"
	KindRecovered           Kind = "recovered"
	KindSessionRevoked      Kind = "session_revoked"
	KindLevelChanged        Kind = "level_changed"
	KindRecoveryCodesIssued Kind = "recovery_codes_issued"
	KindConsentGiven        Kind = "consent_given"     // detail: client, client_zh (the service's names)
	KindConsentWithdrawn    Kind = "consent_withdrawn" // detail: client, client_zh
	// Remote signing (signing/…). Details name the service and the
	// certificate, never what was signed.
	KindCertificateIssued  Kind = "certificate_issued"  // detail: serial (hex)
	KindCertificateRevoked Kind = "certificate_revoked" // detail: serial (hex), reason (RFC 5280 name)
	KindSignatureApproved  Kind = "signature_approved"  // detail: client, client_zh, documents (a count)
	KindSignatureDeclined  Kind = "signature_declined"  // detail: client, client_zh
	KindSignatureCreated   Kind = "signature_created"   // detail: client, client_zh, documents (a count), format
)

// Event is one entry of a resident's activity log.
type Event struct {
	ID         string
	ResidentID string
	At         time.Time
	Kind       Kind
	Detail     map[string]string
}

// Limits on an event, so that the log stays a log and not a data store.
const (
	maxKindLen      = 64
	maxDetailKeys   = 16
	maxDetailKeyLen = 64
	maxDetailValLen = 256
	// DefaultActivityLimit is what Activity returns for limit ≤ 0;
	// MaxActivityLimit caps larger limits.
	DefaultActivityLimit = 50
	MaxActivityLimit     = 1000
)

// Record appends an event to the resident's activity log. detail (may be
// nil) must hold no personal data: at most 16 entries, keys ≤ 64 bytes,
// values ≤ 256 bytes.
func (s *Store) Record(ctx context.Context, residentID string, kind Kind, detail map[string]string) error {
	return s.RecordTx(ctx, nil, residentID, kind, detail)
}

// RecordTx is Record inside the caller's transaction tx (from db.InTx), so
// that the event is written if and only if the caller's change commits. A nil
// tx writes on its own, like Record.
func (s *Store) RecordTx(ctx context.Context, tx *sql.Tx, residentID string, kind Kind, detail map[string]string) error {
	var ex execer = s.db
	if tx != nil {
		ex = tx
	}
	if err := s.record(ctx, ex, residentID, kind, detail, s.timestamp()); err != nil {
		return fmt.Errorf("account: record %s: %w", kind, err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) record(ctx context.Context, ex execer, residentID string, kind Kind, detail map[string]string, at time.Time) error {
	if err := checkEvent(kind, detail); err != nil {
		return err
	}
	if detail == nil {
		detail = map[string]string{}
	}
	js, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO account_activity (id, resident_id, at, kind, detail)
		VALUES ($1, $2, $3, $4, $5)`, secret.Random(16), residentID, db.Timestamp{Time: at}, string(kind), string(js))
	return err
}

func checkEvent(kind Kind, detail map[string]string) error {
	if kind == "" || len(kind) > maxKindLen {
		return fmt.Errorf("event kind empty or longer than %d bytes", maxKindLen)
	}
	if len(detail) > maxDetailKeys {
		return fmt.Errorf("event detail has %d entries, at most %d allowed", len(detail), maxDetailKeys)
	}
	for k, v := range detail {
		if k == "" || len(k) > maxDetailKeyLen || len(v) > maxDetailValLen {
			return fmt.Errorf("event detail %.64q: key must be 1–%d bytes, value at most %d", k, maxDetailKeyLen, maxDetailValLen)
		}
	}
	return nil
}

// Activity returns the resident's most recent events, newest first: at most
// limit (DefaultActivityLimit when limit ≤ 0, never more than
// MaxActivityLimit).
func (s *Store) Activity(ctx context.Context, residentID string, limit int) ([]Event, error) {
	switch {
	case limit <= 0:
		limit = DefaultActivityLimit
	case limit > MaxActivityLimit:
		limit = MaxActivityLimit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, kind, detail FROM account_activity
		WHERE resident_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, residentID, limit)
	if err != nil {
		return nil, fmt.Errorf("account: activity: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		var (
			e      = Event{ResidentID: residentID}
			at     db.Timestamp
			kind   string
			detail string
		)
		if err := rows.Scan(&e.ID, &at, &kind, &detail); err != nil {
			return nil, fmt.Errorf("account: activity: %w", err)
		}
		e.At, e.Kind = at.Time, Kind(kind)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("account: activity: event %s: detail: %w", e.ID, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("account: activity: %w", err)
	}
	return events, nil
}
