package consent

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"eidp/idp/claims"
	"eidp/internal/db"
)

// Errors at the package boundary; match them with errors.Is.
var (
	// ErrNotFound: the resident has no consent for that client.
	ErrNotFound = errors.New("consent: not found")
	// ErrUnknownResident: Save named a resident that does not exist.
	ErrUnknownResident = errors.New("consent: no such resident")
	// ErrUnknownClient: Save named a client that does not exist.
	ErrUnknownClient = errors.New("consent: no such client")
	// ErrInvalid: Save was given a consent that cannot be stored (a missing
	// ID, a malformed scope or claim name).
	ErrInvalid = errors.New("consent: invalid consent")
)

// maxKeyLen bounds resident and client IDs taken from callers.
const maxKeyLen = 128

// Consent is what a resident agreed to release to a client.
type Consent struct {
	ResidentID string
	ClientID   string
	Scopes     []string // sorted, without duplicates
	Claims     []string // claim names, sorted, without duplicates
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Covers reports whether c already covers a request for scopes and items:
// every scope asked for is in c.Scopes and every Essential item is in
// c.Claims. Voluntary items need not be: those the resident did not
// consent to are not released, and do not bring the consent page back
// (see the package comment).
func (c Consent) Covers(scopes []string, items []claims.Item) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	for _, it := range items {
		if it.Essential && !slices.Contains(c.Claims, it.Name) {
			return false
		}
	}
	return true
}

// Store keeps consents in the oidc_consents table, on either engine.
type Store struct {
	db  *db.DB
	now func() time.Time // tests replace it (export_test.go)
}

// NewStore returns the store on d, which must be migrated.
func NewStore(d *db.DB) *Store {
	return &Store{db: d, now: time.Now}
}

// timestamp returns the current time as the database keeps it (UTC,
// microseconds), so that what Save returns equals what Get reads.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

const consentColumns = `resident_id, client_id, scope, claims, created_at, updated_at`

// Get returns the resident's consent for the client, or ErrNotFound.
func (s *Store) Get(ctx context.Context, residentID, clientID string) (Consent, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM oidc_consents
		WHERE resident_id = $1 AND client_id = $2`, residentID, clientID)
	c, err := scanConsent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Consent{}, fmt.Errorf("%w: client %s", ErrNotFound, clientID)
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: get for client %s: %w", clientID, err)
	}
	return c, nil
}

// Save records c, replacing the resident's earlier consent for the client
// if there is one: the scopes and claims become c's (sorted, without
// duplicates), CreatedAt stays that of the first consent and UpdatedAt is
// now. CreatedAt and UpdatedAt in c are ignored. It returns the consent as
// stored. An unknown resident or client is ErrUnknownResident or
// ErrUnknownClient; a scope that is not an RFC 6749 §3.3 scope token, or an
// empty claim name, is ErrInvalid. Nothing is stored on error.
func (s *Store) Save(ctx context.Context, c Consent) (Consent, error) {
	if err := checkKey("resident ID", c.ResidentID); err != nil {
		return Consent{}, err
	}
	if err := checkKey("client ID", c.ClientID); err != nil {
		return Consent{}, err
	}
	c.Scopes = sortedSet(c.Scopes)
	c.Claims = sortedSet(c.Claims)
	for _, sc := range c.Scopes {
		if !validScope(sc) {
			return Consent{}, fmt.Errorf("%w: scope %q is not a scope token (RFC 6749 §3.3)", ErrInvalid, sc)
		}
	}
	if slices.Contains(c.Claims, "") {
		return Consent{}, fmt.Errorf("%w: empty claim name", ErrInvalid)
	}
	claimsJSON, err := json.Marshal(nonNil(c.Claims))
	if err != nil {
		return Consent{}, fmt.Errorf("consent: save for client %s: %w", c.ClientID, err)
	}
	now := s.timestamp()
	var created db.Timestamp
	err = s.db.QueryRowContext(ctx, `INSERT INTO oidc_consents (`+consentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $5)
		ON CONFLICT (resident_id, client_id) DO UPDATE
		SET scope = excluded.scope, claims = excluded.claims, updated_at = excluded.updated_at
		RETURNING created_at`,
		c.ResidentID, c.ClientID, strings.Join(c.Scopes, " "), string(claimsJSON), db.Timestamp{Time: now}).
		Scan(&created)
	if err != nil {
		return Consent{}, s.explainSaveError(ctx, c, err)
	}
	c.CreatedAt, c.UpdatedAt = created.Time, now
	return c, nil
}

// explainSaveError turns a failed insert into ErrUnknownClient or
// ErrUnknownResident when a foreign key is what failed. It looks after the
// fact, outside the failed statement, so that a successful Save costs one
// statement; the foreign keys still guard the table.
func (s *Store) explainSaveError(ctx context.Context, c Consent, cause error) error {
	exists := func(query, id string) bool {
		var one int
		return s.db.QueryRowContext(ctx, query, id).Scan(&one) == nil
	}
	switch {
	case ctx.Err() != nil:
	case !exists(`SELECT 1 FROM oauth_clients WHERE id = $1`, c.ClientID):
		return fmt.Errorf("%w: %s", ErrUnknownClient, c.ClientID)
	case !exists(`SELECT 1 FROM residents WHERE id = $1`, c.ResidentID):
		return fmt.Errorf("%w: %s", ErrUnknownResident, c.ResidentID)
	}
	return fmt.Errorf("consent: save for client %s: %w", c.ClientID, cause)
}

// List returns the resident's consents, most recently updated first.
func (s *Store) List(ctx context.Context, residentID string) ([]Consent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+consentColumns+` FROM oidc_consents
		WHERE resident_id = $1 ORDER BY updated_at DESC, client_id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("consent: list: %w", err)
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fmt.Errorf("consent: list: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consent: list: %w", err)
	}
	return out, nil
}

// Delete withdraws the resident's consent for the client, or returns
// ErrNotFound if there is none. Revoking the client's grants is the
// caller's part.
func (s *Store) Delete(ctx context.Context, residentID, clientID string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM oidc_consents WHERE resident_id = $1 AND client_id = $2`,
		residentID, clientID)
	if err != nil {
		return fmt.Errorf("consent: delete for client %s: %w", clientID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("consent: delete for client %s: %w", clientID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: client %s", ErrNotFound, clientID)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanConsent(row scanner) (Consent, error) {
	var (
		c                    Consent
		scope, claimsJSON    string
		createdAt, updatedAt db.Timestamp
	)
	if err := row.Scan(&c.ResidentID, &c.ClientID, &scope, &claimsJSON, &createdAt, &updatedAt); err != nil {
		return Consent{}, err
	}
	if err := json.Unmarshal([]byte(claimsJSON), &c.Claims); err != nil {
		return Consent{}, fmt.Errorf("stored claims of client %s: %w", c.ClientID, err)
	}
	c.Scopes = sortedSet(strings.Fields(scope))
	c.Claims = sortedSet(c.Claims)
	c.CreatedAt, c.UpdatedAt = createdAt.Time, updatedAt.Time
	return c, nil
}

// sortedSet returns list sorted and without duplicates, nil when empty, so
// that what Save returns equals what Get reads.
func sortedSet(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

func checkKey(what, id string) error {
	if id == "" || len(id) > maxKeyLen {
		return fmt.Errorf("%w: %s empty or longer than %d bytes", ErrInvalid, what, maxKeyLen)
	}
	return nil
}

// validScope reports whether s is a scope token (RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E )), which also keeps the space-separated
// scope column unambiguous.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}
