package web

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"eidp/internal/db"
)

// flowPurpose says which passkey ceremony a browser flow is waiting for.
type flowPurpose string

const (
	purposeRegister flowPurpose = "register" // identity proofed, first passkey next
	purposeRecover  flowPurpose = "recover"  // proofed + recovery code, replacement passkey next
	purposeAdd      flowPurpose = "add"      // fresh passkey check passed, another device next
)

// flowTTL bounds how long a proofed identity may wait for its passkey.
const flowTTL = 15 * time.Minute

var errNoFlow = errors.New("web: no such flow in progress")

// flows is the web_flows table.
type flows struct {
	db  *db.DB
	now func() time.Time
}

// start records that this browser may now run the purpose's ceremony for
// the resident, replacing whatever the flow waited for before.
func (f flows) start(ctx context.Context, flow string, p flowPurpose, residentID string) error {
	now := f.now()
	return f.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_flows WHERE expires_at < $1`, now.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO web_flows (flow_hash, purpose, resident_id, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (flow_hash) DO UPDATE SET purpose = excluded.purpose, resident_id = excluded.resident_id, expires_at = excluded.expires_at`,
			flowHash(flow), string(p), residentID, now.Add(flowTTL).UnixMicro())
		return err
	})
}

// resident returns the resident a live flow of that purpose is for.
func (f flows) resident(ctx context.Context, flow string, p flowPurpose) (string, error) {
	var id string
	err := f.db.QueryRowContext(ctx, `SELECT resident_id FROM web_flows WHERE flow_hash = $1 AND purpose = $2 AND expires_at >= $3`,
		flowHash(flow), string(p), f.now().UnixMicro()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoFlow
	}
	return id, err
}

// finish ends the flow.
func (f flows) finish(ctx context.Context, flow string) error {
	_, err := f.db.ExecContext(ctx, `DELETE FROM web_flows WHERE flow_hash = $1`, flowHash(flow))
	return err
}
