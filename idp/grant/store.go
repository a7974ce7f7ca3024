package grant

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// Errors at the package boundary; match them with errors.Is.
var (
	// ErrNotFound: unknown, or belongs to another client (deliberately the
	// same error, so that a client learns nothing about others' values).
	ErrNotFound = errors.New("grant: not found")
	// ErrExpired: the value or its grant is past its expiry.
	ErrExpired = errors.New("grant: expired")
	// ErrUsed: a single-use value (pushed request, code, rotated refresh
	// token) presented a second time.
	ErrUsed = errors.New("grant: already used")
	// ErrRevoked: the grant was revoked.
	ErrRevoked = errors.New("grant: revoked")
)

// Kinds of authorization request.
const (
	KindPushed      = "pushed"      // RFC 9126 PAR: single-use, bound to its client
	KindInteractive = "interactive" // waiting for the resident in a browser
)

// Revocation reasons set by this package.
const (
	ReasonCodeReuse       = "code_reuse"        // RedeemCode: a code presented twice
	ReasonRefreshReuse    = "refresh_reuse"     // UseRefresh: a rotated refresh token presented again
	ReasonRevokedByClient = "revoked_by_client" // RevokeRefresh: RFC 7009 revocation request
)

const (
	secretBytes  = 32       // codes, refresh tokens, request IDs: 256 bits, 43 characters
	grantIDBytes = 16       // grant IDs: 128 bits, 22 characters (not bearer secrets)
	maxSecretLen = 512      // longer presented values are not ours and are not hashed
	maxJSON      = 64 << 10 // params and claims, bytes
	maxIDLen     = 512      // IDs, jti, reasons taken from callers
	// sweepGrantsAfter: an expired grant's row is kept this long, so that
	// late requests with its tokens get ErrExpired rather than ErrNotFound.
	sweepGrantsAfter = 24 * time.Hour
)

// Request is an authorization request kept between HTTP requests.
type Request struct {
	ID        string // pushed: request_uri is urn:ietf:params:oauth:request_uri:<ID>
	Kind      string // KindPushed or KindInteractive
	ClientID  string
	Params    json.RawMessage // the validated request
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Grant is what one authorization by a resident gave one client.
type Grant struct {
	ID         string
	ClientID   string
	ResidentID string
	SessionID  string // the login session it came from (sessions.id)
	Scope      string
	Claims     json.RawMessage // granted claims request (OIDC Core §5.5 shape); stored "{}" if empty
	AuthTime   time.Time
	ACR        string
	AMR        []string // RFC 8176 values; nil if none
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// RevokedAt and RevokedReason are zero and "" unless the grant is revoked.
	RevokedAt     time.Time
	RevokedReason string
}

// Store keeps the OpenID Provider's token state in the database.
type Store struct {
	db  *db.DB
	now func() time.Time // tests replace it (export_test.go)
}

// NewStore returns a Store on d (migrated).
func NewStore(d *db.DB) *Store {
	return &Store{db: d, now: time.Now}
}

// timestamp returns the current time as the database keeps it (UTC,
// microseconds), so that returned values equal what is read back.
func (s *Store) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// ---- Authorization requests ----

// SaveRequest stores an authorization request of kind (KindPushed or
// KindInteractive) for clientID, valid for ttl, under a new random ID
// (32 bytes, base64url). params must be JSON of at most 64 KiB.
func (s *Store) SaveRequest(ctx context.Context, kind, clientID string, params json.RawMessage, ttl time.Duration) (Request, error) {
	if kind != KindPushed && kind != KindInteractive {
		return Request{}, fmt.Errorf("grant: save request: unknown kind %q", kind)
	}
	if clientID == "" || len(clientID) > maxIDLen {
		return Request{}, errors.New("grant: save request: client ID empty or too long")
	}
	if ttl <= 0 {
		return Request{}, errors.New("grant: save request: lifetime must be positive")
	}
	text, err := jsonText("params", params)
	if err != nil {
		return Request{}, fmt.Errorf("grant: save request: %w", err)
	}
	now := s.timestamp()
	r := Request{
		ID:        secret.Random(secretBytes),
		Kind:      kind,
		ClientID:  clientID,
		Params:    json.RawMessage(text),
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO oidc_authz_requests
		(id, kind, client_id, params, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.ID, r.Kind, r.ClientID, text, ts(r.CreatedAt), ts(r.ExpiresAt))
	if err != nil {
		return Request{}, fmt.Errorf("grant: save request for client %s: %w", clientID, err)
	}
	return r, nil
}

// UsePushed consumes the pushed request id for clientID (RFC 9126 §4: the
// request_uri is bound to the client that pushed it and is single-use). It
// returns ErrNotFound for an unknown ID, an interactive request or another
// client's request (which stays unused), ErrExpired past its expiry, and
// ErrUsed the second time.
func (s *Store) UsePushed(ctx context.Context, id, clientID string) (Request, error) {
	if len(id) > maxSecretLen {
		return Request{}, fmt.Errorf("grant: use pushed request: %w", ErrNotFound)
	}
	var r Request
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var used sql.Null[db.Timestamp]
		var err error
		r, err = scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+`, used_at
			FROM oidc_authz_requests WHERE id = $1`, id), &used)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (r.Kind != KindPushed || r.ClientID != clientID) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.timestamp()
		if !now.Before(r.ExpiresAt) {
			return ErrExpired
		}
		if used.Valid {
			return ErrUsed
		}
		// The used_at guard makes the request single-use even if two
		// transactions got here at once.
		return onlyOneRow(tx.ExecContext(ctx, `UPDATE oidc_authz_requests SET used_at = $2
			WHERE id = $1 AND used_at IS NULL`, id, ts(now)))
	})
	if err != nil {
		return Request{}, fmt.Errorf("grant: use pushed request: %w", err)
	}
	return r, nil
}

// GetRequest returns the interactive request id, or ErrNotFound (unknown ID,
// or a pushed request: those are reached only through UsePushed, which
// checks the client and single use) or ErrExpired.
func (s *Store) GetRequest(ctx context.Context, id string) (Request, error) {
	if len(id) > maxSecretLen {
		return Request{}, fmt.Errorf("grant: get request: %w", ErrNotFound)
	}
	r, err := scanRequest(s.db.QueryRowContext(ctx, `SELECT `+requestColumns+`
		FROM oidc_authz_requests WHERE id = $1 AND kind = $2`, id, KindInteractive))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("grant: get request: %w", ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("grant: get request: %w", err)
	}
	if !s.timestamp().Before(r.ExpiresAt) {
		return Request{}, fmt.Errorf("grant: get request: %w", ErrExpired)
	}
	return r, nil
}

// UpdateRequest replaces the params of the interactive request id (state
// carried between the steps of a browser flow); its expiry does not move.
// ErrNotFound or ErrExpired as GetRequest.
func (s *Store) UpdateRequest(ctx context.Context, id string, params json.RawMessage) error {
	text, err := jsonText("params", params)
	if err != nil {
		return fmt.Errorf("grant: update request: %w", err)
	}
	if len(id) > maxSecretLen {
		return fmt.Errorf("grant: update request: %w", ErrNotFound)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE oidc_authz_requests SET params = $3
		WHERE id = $1 AND kind = $2 AND expires_at > $4`, id, KindInteractive, text, ts(s.timestamp()))
	if err = onlyOneRow(res, err); errors.Is(err, errNoRow) {
		// Say why: unknown (or pushed), or expired.
		_, err = s.GetRequest(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			err = ErrNotFound
		case err == nil || errors.Is(err, ErrExpired):
			err = ErrExpired
		}
	}
	if err != nil {
		return fmt.Errorf("grant: update request: %w", err)
	}
	return nil
}

// DeleteRequest deletes the request id, if there is one.
func (s *Store) DeleteRequest(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM oidc_authz_requests WHERE id = $1`, id); err != nil {
		return fmt.Errorf("grant: delete request: %w", err)
	}
	return nil
}

const requestColumns = `id, kind, client_id, params, created_at, expires_at`

// scanRequest scans requestColumns, then extra.
func scanRequest(row interface{ Scan(...any) error }, extra ...any) (Request, error) {
	var (
		r                Request
		params           string
		created, expires db.Timestamp
	)
	if err := row.Scan(append([]any{&r.ID, &r.Kind, &r.ClientID, &params, &created, &expires}, extra...)...); err != nil {
		return Request{}, err
	}
	r.Params = json.RawMessage(params)
	r.CreatedAt, r.ExpiresAt = created.Time, expires.Time
	return r, nil
}

// ---- Grants and codes ----

// IssueCode creates the grant g and an authorization code for it in one
// transaction, and returns the code (32 random bytes, base64url; stored only
// as its SHA-256) and the grant as stored. The store sets g.ID and
// g.CreatedAt; the caller sets g.ExpiresAt, the grant's lifetime, which
// must be in the future. The code expires after codeTTL, or with the grant
// if that is sooner. params is what the token request must match and the ID
// token must carry (redirect_uri, code_challenge, nonce …), as JSON; empty
// params and claims are stored as "{}".
func (s *Store) IssueCode(ctx context.Context, g Grant, params json.RawMessage, codeTTL time.Duration) (string, Grant, error) {
	now := s.timestamp()
	g, err := newGrant(g, now)
	if err != nil {
		return "", Grant{}, fmt.Errorf("grant: issue code: %w", err)
	}
	if codeTTL <= 0 {
		return "", Grant{}, errors.New("grant: issue code: code lifetime must be positive")
	}
	paramsText, err := jsonText("params", params)
	if err != nil {
		return "", Grant{}, fmt.Errorf("grant: issue code: %w", err)
	}
	amr, err := json.Marshal(g.AMR)
	if err != nil {
		return "", Grant{}, fmt.Errorf("grant: issue code: %w", err)
	}
	if g.AMR == nil {
		amr = []byte("[]")
	}
	code := secret.Random(secretBytes)
	codeExpires := minTime(now.Add(codeTTL), g.ExpiresAt)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO oidc_grants
			(id, client_id, resident_id, session_id, scope, claims, auth_time, acr, amr, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			g.ID, g.ClientID, g.ResidentID, g.SessionID, g.Scope, string(g.Claims), ts(g.AuthTime), g.ACR, string(amr),
			ts(g.CreatedAt), ts(g.ExpiresAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_codes (code_hash, grant_id, params, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, secret.Hash(code), g.ID, paramsText, ts(now), ts(codeExpires))
		return err
	})
	if err != nil {
		return "", Grant{}, fmt.Errorf("grant: issue code for client %s: %w", g.ClientID, err)
	}
	return code, g, nil
}

// newGrant checks the caller's part of g and fills in the store's.
func newGrant(g Grant, now time.Time) (Grant, error) {
	for _, f := range []struct{ name, value string }{
		{"client ID", g.ClientID}, {"resident ID", g.ResidentID}, {"session ID", g.SessionID},
	} {
		if f.value == "" || len(f.value) > maxIDLen {
			return Grant{}, fmt.Errorf("%s empty or too long", f.name)
		}
	}
	for _, v := range g.AMR {
		if v == "" {
			return Grant{}, errors.New("empty amr value")
		}
	}
	claims, err := jsonText("claims", g.Claims)
	if err != nil {
		return Grant{}, err
	}
	if g.AuthTime.IsZero() {
		return Grant{}, errors.New("no auth time")
	}
	g.ExpiresAt = g.ExpiresAt.UTC().Truncate(time.Microsecond)
	if !g.ExpiresAt.After(now) {
		return Grant{}, errors.New("the grant's expiry is not in the future")
	}
	g.ID = secret.Random(grantIDBytes)
	g.Claims = json.RawMessage(claims)
	g.AuthTime = g.AuthTime.UTC().Truncate(time.Microsecond)
	if len(g.AMR) == 0 {
		g.AMR = nil
	} else {
		g.AMR = append([]string(nil), g.AMR...)
	}
	g.CreatedAt = now
	g.RevokedAt, g.RevokedReason = time.Time{}, ""
	return g, nil
}

// RedeemCode marks the code used and returns its grant and params, for the
// token request of clientID. A code of another client gives ErrNotFound and
// changes nothing. A code presented a second time is refused with ErrUsed,
// and its grant is revoked in the same transaction (reason "code_reuse"),
// which stops the tokens the first use issued (RFC 6749 §4.1.2). Otherwise
// ErrRevoked if the grant was revoked, ErrExpired past the code's expiry.
func (s *Store) RedeemCode(ctx context.Context, code, clientID string) (Grant, json.RawMessage, error) {
	if len(code) > maxSecretLen {
		return Grant{}, nil, fmt.Errorf("grant: redeem code: %w", ErrNotFound)
	}
	hash := secret.Hash(code)
	var (
		g      Grant
		params json.RawMessage
		reused bool
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		reused = false
		var (
			text    string
			expires db.Timestamp
			used    sql.Null[db.Timestamp]
			err     error
		)
		g, err = scanGrant(tx.QueryRowContext(ctx, `SELECT `+grantColumns("g.")+`, c.params, c.expires_at, c.used_at
			FROM oidc_codes c JOIN oidc_grants g ON g.id = c.grant_id WHERE c.code_hash = $1`, hash),
			&text, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) || err == nil && g.ClientID != clientID {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.timestamp()
		reused = used.Valid
		if !reused {
			switch {
			case !g.RevokedAt.IsZero():
				return fmt.Errorf("%w: grant %s", ErrRevoked, g.ID)
			case !now.Before(expires.Time):
				return ErrExpired
			}
			// The used_at guard makes the code single-use even if two
			// transactions got here at once: the loser counts as reuse.
			err = onlyOneRow(tx.ExecContext(ctx, `UPDATE oidc_codes SET used_at = $2
				WHERE code_hash = $1 AND used_at IS NULL`, hash, ts(now)))
			if err != nil && !errors.Is(err, errNoRow) {
				return err
			}
			reused = err != nil
		}
		if reused {
			// RFC 6749 §4.1.2: deny, and revoke what the code issued. The
			// transaction must commit, so this is not returned as an error.
			g, err = revokeGrant(ctx, tx, g, ReasonCodeReuse, now)
			return err
		}
		params = json.RawMessage(text)
		return nil
	})
	if err == nil && reused {
		err = fmt.Errorf("%w: grant %s revoked", ErrUsed, g.ID)
	}
	if err != nil {
		return Grant{}, nil, fmt.Errorf("grant: redeem code: %w", err)
	}
	return g, params, nil
}

// Get returns the grant id, revoked and expired ones included, or
// ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Grant, error) {
	g, err := s.get(ctx, id)
	if err != nil {
		return Grant{}, fmt.Errorf("grant: get: %w", err)
	}
	return g, nil
}

func (s *Store) get(ctx context.Context, id string) (Grant, error) {
	if len(id) > maxIDLen {
		return Grant{}, ErrNotFound
	}
	g, err := scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantColumns("")+` FROM oidc_grants WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Grant{}, fmt.Errorf("%w: grant %s", ErrNotFound, id)
	}
	return g, err
}

// Active returns the grant id if it exists, is not revoked and has not
// expired; else ErrNotFound, ErrRevoked or ErrExpired. One read by primary
// key: it runs on every userinfo and introspection request.
func (s *Store) Active(ctx context.Context, id string) (Grant, error) {
	g, err := s.get(ctx, id)
	if err == nil {
		err = s.check(g)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("grant: active: %w", err)
	}
	return g, nil
}

// check returns ErrRevoked or ErrExpired for a grant that is not active.
func (s *Store) check(g Grant) error {
	if !g.RevokedAt.IsZero() {
		return fmt.Errorf("%w: grant %s", ErrRevoked, g.ID)
	}
	if !s.timestamp().Before(g.ExpiresAt) {
		return fmt.Errorf("%w: grant %s", ErrExpired, g.ID)
	}
	return nil
}

// Revoke revokes the grant id with reason, which stops its codes, refresh
// tokens and access tokens. Revoking a revoked grant succeeds and keeps the
// first reason. ErrNotFound if there is no such grant.
func (s *Store) Revoke(ctx context.Context, id, reason string) error {
	if err := checkReason(reason); err != nil {
		return fmt.Errorf("grant: revoke: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE oidc_grants SET revoked_at = $2, revoked_reason = $3
		WHERE id = $1 AND revoked_at IS NULL`, id, ts(s.timestamp()), reason)
	if err == nil {
		err = onlyOneRow(res, nil)
	}
	if errors.Is(err, errNoRow) {
		_, err = s.get(ctx, id) // nil if it was revoked already
	}
	if err != nil {
		return fmt.Errorf("grant: revoke: %w", err)
	}
	return nil
}

// RevokeForClient revokes every grant the resident gave the client that is
// not revoked yet (consent withdrawn, or the resident's request) and returns
// how many.
func (s *Store) RevokeForClient(ctx context.Context, residentID, clientID, reason string) (int, error) {
	if err := checkReason(reason); err != nil {
		return 0, fmt.Errorf("grant: revoke for client: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE oidc_grants SET revoked_at = $3, revoked_reason = $4
		WHERE resident_id = $1 AND client_id = $2 AND revoked_at IS NULL`,
		residentID, clientID, ts(s.timestamp()), reason)
	if err != nil {
		return 0, fmt.Errorf("grant: revoke for client %s: %w", clientID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("grant: revoke for client %s: %w", clientID, err)
	}
	return int(n), nil
}

// RevokeForSession revokes every grant that came from the login session and
// is not revoked yet (expired ones included: their client may still hold a
// session to end), and returns the grants it revoked now, oldest first —
// the clients owed a back-channel logout token. Grants revoked before are
// not returned.
func (s *Store) RevokeForSession(ctx context.Context, sessionID, reason string) ([]Grant, error) {
	if err := checkReason(reason); err != nil {
		return nil, fmt.Errorf("grant: revoke for session: %w", err)
	}
	// One statement: a grant is returned by at most one of two concurrent
	// calls, so one logout token goes out per grant.
	rows, err := s.db.QueryContext(ctx, `UPDATE oidc_grants SET revoked_at = $2, revoked_reason = $3
		WHERE session_id = $1 AND revoked_at IS NULL
		RETURNING `+grantColumns(""), sessionID, ts(s.timestamp()), reason)
	if err != nil {
		return nil, fmt.Errorf("grant: revoke for session: %w", err)
	}
	list, err := scanGrants(rows)
	if err != nil {
		return nil, fmt.Errorf("grant: revoke for session: %w", err)
	}
	// RETURNING has no ORDER BY.
	slices.SortFunc(list, func(a, b Grant) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return list, nil
}

// ListActive returns the resident's grants that are neither revoked nor
// expired, newest first.
func (s *Store) ListActive(ctx context.Context, residentID string) ([]Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+grantColumns("")+` FROM oidc_grants
		WHERE resident_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY created_at DESC, id DESC`, residentID, ts(s.timestamp()))
	if err != nil {
		return nil, fmt.Errorf("grant: list active: %w", err)
	}
	list, err := scanGrants(rows)
	if err != nil {
		return nil, fmt.Errorf("grant: list active: %w", err)
	}
	return list, nil
}

// revokeGrant revokes g in tx unless it is revoked already, and returns it
// as it now is (with the first reason).
func revokeGrant(ctx context.Context, tx *sql.Tx, g Grant, reason string, now time.Time) (Grant, error) {
	if !g.RevokedAt.IsZero() {
		return g, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE oidc_grants SET revoked_at = $2, revoked_reason = $3
		WHERE id = $1 AND revoked_at IS NULL`, g.ID, ts(now), reason); err != nil {
		return Grant{}, err
	}
	g.RevokedAt, g.RevokedReason = now, reason
	return g, nil
}

func checkReason(reason string) error {
	if reason == "" || len(reason) > maxIDLen {
		return errors.New("reason empty or too long")
	}
	return nil
}

// grantColumns lists the grant's columns, each prefixed (a table alias and
// a dot, or "").
func grantColumns(prefix string) string {
	cols := ""
	for i, c := range []string{"id", "client_id", "resident_id", "session_id", "scope", "claims", "auth_time",
		"acr", "amr", "created_at", "expires_at", "revoked_at", "revoked_reason"} {
		if i > 0 {
			cols += ", "
		}
		cols += prefix + c
	}
	return cols
}

// scanGrant scans grantColumns, then extra.
func scanGrant(row interface{ Scan(...any) error }, extra ...any) (Grant, error) {
	var (
		g                          Grant
		claims, amr                string
		authTime, created, expires db.Timestamp
		revoked                    sql.Null[db.Timestamp]
		reason                     sql.NullString
	)
	dest := append([]any{&g.ID, &g.ClientID, &g.ResidentID, &g.SessionID, &g.Scope, &claims, &authTime,
		&g.ACR, &amr, &created, &expires, &revoked, &reason}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Grant{}, err
	}
	if err := json.Unmarshal([]byte(amr), &g.AMR); err != nil {
		return Grant{}, fmt.Errorf("grant %s: stored amr: %w", g.ID, err)
	}
	if len(g.AMR) == 0 {
		g.AMR = nil
	}
	g.Claims = json.RawMessage(claims)
	g.AuthTime, g.CreatedAt, g.ExpiresAt = authTime.Time, created.Time, expires.Time
	if revoked.Valid {
		g.RevokedAt = revoked.V.Time
	}
	g.RevokedReason = reason.String
	return g, nil
}

// scanGrants scans and closes rows.
func scanGrants(rows *sql.Rows) ([]Grant, error) {
	defer rows.Close()
	var list []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, g)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return list, nil
}

// ---- Refresh tokens ----

// IssueRefresh issues a refresh token for the active grant grantID and
// returns it (32 random bytes, base64url; stored only as its SHA-256). It
// expires after ttl, or with the grant if that is sooner. ErrNotFound,
// ErrRevoked or ErrExpired if the grant is not active.
func (s *Store) IssueRefresh(ctx context.Context, grantID string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", errors.New("grant: issue refresh token: lifetime must be positive")
	}
	token := secret.Random(secretBytes)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var expires db.Timestamp
		var revoked sql.Null[db.Timestamp]
		err := tx.QueryRowContext(ctx, `SELECT expires_at, revoked_at FROM oidc_grants WHERE id = $1`, grantID).
			Scan(&expires, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: grant %s", ErrNotFound, grantID)
		}
		if err != nil {
			return err
		}
		now := s.timestamp()
		if err := s.check(Grant{ID: grantID, ExpiresAt: expires.Time, RevokedAt: revoked.V.Time}); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, token, grantID, now, minTime(now.Add(ttl), expires.Time))
	})
	if err != nil {
		return "", fmt.Errorf("grant: issue refresh token: %w", err)
	}
	return token, nil
}

func insertRefresh(ctx context.Context, tx *sql.Tx, token, grantID string, now, expires time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO oidc_refresh_tokens (token_hash, grant_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4)`, secret.Hash(token), grantID, ts(now), ts(expires))
	return err
}

// refreshToken is a refresh token's row with its grant.
type refreshToken struct {
	grant   Grant
	expires time.Time
	used    bool
}

// findRefresh reads the refresh token (by hash) and its grant through q.
func findRefresh(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, hash string) (refreshToken, error) {
	var (
		expires db.Timestamp
		used    sql.Null[db.Timestamp]
	)
	g, err := scanGrant(q.QueryRowContext(ctx, `SELECT `+grantColumns("g.")+`, r.expires_at, r.used_at
		FROM oidc_refresh_tokens r JOIN oidc_grants g ON g.id = r.grant_id WHERE r.token_hash = $1`, hash),
		&expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return refreshToken{}, ErrNotFound
	}
	if err != nil {
		return refreshToken{}, err
	}
	return refreshToken{grant: g, expires: expires.Time, used: used.Valid}, nil
}

// checkRefresh returns the error for a refresh token that cannot be used, without
// side effects: ErrUsed, ErrRevoked, ErrExpired (the token's or the
// grant's).
func (s *Store) checkRefresh(rt refreshToken) error {
	if rt.used {
		return ErrUsed
	}
	if err := s.check(rt.grant); err != nil {
		return err
	}
	if !s.timestamp().Before(rt.expires) {
		return ErrExpired
	}
	return nil
}

// UseRefresh checks the refresh token for a token request of clientID and
// returns its grant: ErrNotFound if unknown or another client's (nothing
// changes), ErrExpired past the token's or the grant's expiry, ErrRevoked if
// the grant was revoked.
//
// With rotate (public clients, RFC 9700 §4.14.2), the token is marked used
// and a new one, valid for ttl (capped at the grant's expiry), is issued in
// the same transaction and returned. A rotated token presented again revokes
// the grant ("refresh_reuse") and gives ErrUsed: either the client or an
// attacker holds a stolen copy, and the server cannot tell which. Without
// rotate, the token stays valid and newToken is "".
func (s *Store) UseRefresh(ctx context.Context, token, clientID string, rotate bool, ttl time.Duration) (Grant, string, error) {
	if len(token) > maxSecretLen {
		return Grant{}, "", fmt.Errorf("grant: use refresh token: %w", ErrNotFound)
	}
	if rotate && ttl <= 0 {
		return Grant{}, "", errors.New("grant: use refresh token: lifetime must be positive")
	}
	hash := secret.Hash(token)
	newToken := ""
	if rotate {
		newToken = secret.Random(secretBytes)
	}
	var (
		g      Grant
		reused bool
	)
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		reused = false
		rt, err := findRefresh(ctx, tx, hash)
		if err != nil {
			return err
		}
		g = rt.grant
		if g.ClientID != clientID {
			return ErrNotFound
		}
		now := s.timestamp()
		if !rt.used && rotate {
			if err := s.checkRefresh(rt); err != nil {
				return err
			}
			err = onlyOneRow(tx.ExecContext(ctx, `UPDATE oidc_refresh_tokens SET used_at = $2
				WHERE token_hash = $1 AND used_at IS NULL`, hash, ts(now)))
			if err == nil {
				return insertRefresh(ctx, tx, newToken, g.ID, now, minTime(now.Add(ttl), g.ExpiresAt))
			}
			if !errors.Is(err, errNoRow) {
				return err
			}
			rt.used = true // lost a race with another use: that is reuse too
		}
		if rt.used {
			// The transaction must commit the revocation, so this is not
			// returned as an error.
			reused = true
			g, err = revokeGrant(ctx, tx, g, ReasonRefreshReuse, now)
			return err
		}
		return s.checkRefresh(rt)
	})
	if err == nil && reused {
		err = fmt.Errorf("%w: grant %s revoked", ErrUsed, g.ID)
	}
	if err != nil {
		return Grant{}, "", fmt.Errorf("grant: use refresh token: %w", err)
	}
	return g, newToken, nil
}

// LookupRefresh returns the refresh token's grant and the token's expiry,
// for introspection (RFC 7662), changing nothing: ErrNotFound, ErrUsed (a
// rotated token; unlike UseRefresh, the grant is not revoked here),
// ErrRevoked or ErrExpired when the token is not active.
func (s *Store) LookupRefresh(ctx context.Context, token string) (Grant, time.Time, error) {
	if len(token) > maxSecretLen {
		return Grant{}, time.Time{}, fmt.Errorf("grant: look up refresh token: %w", ErrNotFound)
	}
	rt, err := findRefresh(ctx, s.db, secret.Hash(token))
	if err == nil {
		err = s.checkRefresh(rt)
	}
	if err != nil {
		return Grant{}, time.Time{}, fmt.Errorf("grant: look up refresh token: %w", err)
	}
	return rt.grant, rt.expires, nil
}

// RevokeRefresh handles an RFC 7009 revocation request of clientID for a
// refresh token: it revokes the token's grant (reason "revoked_by_client",
// unless it was revoked before), which also invalidates the grant's access
// tokens (RFC 7009 §2.1), and reports true. An unknown token gives (false,
// nil) (§2.2: an invalid token is answered 200), and so does another
// client's, which is not revoked (§2.1: the server checks that the token was
// issued to the requesting client).
func (s *Store) RevokeRefresh(ctx context.Context, token, clientID string) (bool, error) {
	if len(token) > maxSecretLen {
		return false, nil
	}
	hash := secret.Hash(token)
	var found bool
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		found = false
		rt, err := findRefresh(ctx, tx, hash)
		if errors.Is(err, ErrNotFound) || err == nil && rt.grant.ClientID != clientID {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		_, err = revokeGrant(ctx, tx, rt.grant, ReasonRevokedByClient, s.timestamp())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("grant: revoke refresh token: %w", err)
	}
	return found, nil
}

// ---- Access tokens ----

// RevokeAccessToken records the access token jti as revoked until exp, when
// it expires anyway (RFC 7009 for RFC 9068 JWTs). Revoking it again
// succeeds.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if jti == "" || len(jti) > maxIDLen {
		return errors.New("grant: revoke access token: jti empty or too long")
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO oidc_revoked_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO NOTHING`, jti, ts(exp)); err != nil {
		return fmt.Errorf("grant: revoke access token: %w", err)
	}
	return nil
}

// AccessTokenRevoked reports whether the access token jti was revoked.
func (s *Store) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM oidc_revoked_tokens WHERE jti = $1`, jti).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("grant: access token revoked: %w", err)
	}
	return true, nil
}

// ---- Housekeeping ----

// Sweep deletes expired authorization requests, codes, refresh tokens and
// revoked-access-token rows, and grants that expired more than a day ago,
// and returns how many rows it removed. Call it now and then: nothing
// depends on it but the tables' size.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	now := s.timestamp()
	var total int64
	for _, st := range []struct {
		table string
		until time.Time
	}{
		{"oidc_authz_requests", now},
		{"oidc_codes", now},
		{"oidc_refresh_tokens", now},
		{"oidc_revoked_tokens", now},
		// Last: its cascade takes any rows above that it holds (none that
		// have not expired, as they expire with their grant).
		{"oidc_grants", now.Add(-sweepGrantsAfter)},
	} {
		res, err := s.db.ExecContext(ctx, `DELETE FROM `+st.table+` WHERE expires_at <= $1`, ts(st.until))
		if err != nil {
			return total, fmt.Errorf("grant: sweep %s: %w", st.table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("grant: sweep %s: %w", st.table, err)
		}
		total += n
	}
	return total, nil
}

// ---- Helpers ----

// errNoRow: a guarded UPDATE found nothing to change.
var errNoRow = errors.New("grant: no row changed")

// onlyOneRow turns an Exec result into nil if it changed a row, errNoRow if
// it changed none.
func onlyOneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoRow
	}
	return nil
}

// jsonText checks that raw is JSON of at most maxJSON bytes and returns it
// as text; empty raw becomes "{}".
func jsonText(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "{}", nil
	}
	if len(raw) > maxJSON {
		return "", fmt.Errorf("%s longer than %d bytes", field, maxJSON)
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("%s is not valid JSON", field)
	}
	return string(raw), nil
}

func ts(t time.Time) db.Timestamp { return db.Timestamp{Time: t} }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
