package session

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"eidp/internal/db"
	"eidp/internal/secret"
)

// ErrNoSession: the request has no live session (no cookie, an unknown
// token, a revoked or expired session), or the session to revoke is not a
// live session of that resident.
var ErrNoSession = errors.New("session: no session")

// Defaults for zero Options fields.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	DefaultCookieName      = "eidp_session"
)

const (
	// lastSeenInterval: Get writes last_seen_at at most this often per
	// session, so that a busy resident does not cost a write per request.
	// The idle timeout is measured from last_seen_at and may therefore end
	// a session up to this much early.
	lastSeenInterval = time.Minute
	// tokenBytes of randomness in the cookie value (256 bits).
	tokenBytes = 32
	// maxCookieLen: longer cookie values are not ours and are not hashed.
	maxCookieLen = 128
	// maxUserAgent bytes of the User-Agent header are kept.
	maxUserAgent = 256
)

// Options configures a Manager. A zero field takes the default.
type Options struct {
	IdleTimeout     time.Duration // default 30 min
	AbsoluteTimeout time.Duration // default 12 h
	CookieName      string        // default "eidp_session"
	Secure          bool          // set the cookie's Secure attribute (behind HTTPS)
	// OnEnd, if set, is called after sessions were ended by Revoke,
	// RevokeAll or Logout, with the resident and the public IDs of the
	// sessions that ended. The OpenID Provider revokes the grants of those
	// sessions and notifies relying parties (back-channel logout). Its
	// error is returned to the caller; the sessions stay ended.
	OnEnd func(ctx context.Context, residentID string, sessionIDs []string) error
}

// Session is a live login session.
type Session struct {
	ID         string // public handle (random), safe to show and to use in revoke forms
	ResidentID string
	CreatedAt  time.Time
	LastSeenAt time.Time // updated at most once a minute
	ExpiresAt  time.Time // absolute expiry; idle expiry is LastSeenAt + IdleTimeout
	AuthTime   time.Time // when the resident authenticated (OIDC auth_time)
	ACR        string    // e.g. "urn:eidp:acr:substantial"
	AMR        []string  // RFC 8176 values, e.g. ["hwk","user","pop"]
	UserAgent  string    // at most 256 bytes
}

// Manager creates, finds and ends sessions.
type Manager struct {
	db   *db.DB
	opts Options
	now  func() time.Time // tests replace it (export_test.go)
}

// NewManager returns a Manager on d (migrated) with opts, defaults filled in.
func NewManager(d *db.DB, opts Options) *Manager {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.AbsoluteTimeout <= 0 {
		opts.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if opts.CookieName == "" {
		opts.CookieName = DefaultCookieName
	}
	return &Manager{db: d, opts: opts, now: time.Now}
}

// timestamp returns the current time as the database keeps it (UTC,
// microseconds), so that returned sessions equal what is read back.
func (m *Manager) timestamp() time.Time {
	return m.now().UTC().Truncate(time.Microsecond)
}

// AMRForPasskey returns the RFC 8176 §2 authentication methods of a passkey
// assertion with user verification: "user" (UV: biometric or PIN) and "pop"
// (proof of possession of a key), with "hwk" for a device-bound key (backup
// eligibility flag BE=0, WebAuthn L3 §6.1) or "swk" for a synced one (BE=1),
// whose private key exists outside one piece of hardware.
func AMRForPasskey(backupEligible bool) []string {
	if backupEligible {
		return []string{"swk", "user", "pop"}
	}
	return []string{"hwk", "user", "pop"}
}

// Create starts a session for the resident, just authenticated with acr and
// amr, and sets its cookie on w: the value is 32 random bytes (base64url);
// only its SHA-256 hash is stored. The cookie is HttpOnly, SameSite=Lax,
// Path=/, Secure per Options, and lives no longer than the absolute timeout
// (Max-Age). The user agent is kept (cleaned, at most 256 bytes) for the
// account page's session list.
func (m *Manager) Create(ctx context.Context, w http.ResponseWriter, residentID, acr string, amr []string, userAgent string) (Session, error) {
	if residentID == "" {
		return Session{}, errors.New("session: create: no resident")
	}
	for _, v := range amr {
		if v == "" || strings.ContainsFunc(v, unicode.IsSpace) {
			return Session{}, fmt.Errorf("session: create: bad amr value %q", v)
		}
	}
	token := secret.Random(tokenBytes)
	now := m.timestamp()
	s := Session{
		ID:         secret.Random(16),
		ResidentID: residentID,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(m.opts.AbsoluteTimeout),
		AuthTime:   now,
		ACR:        acr,
		AMR:        append([]string(nil), amr...),
		UserAgent:  cleanUserAgent(userAgent),
	}
	_, err := m.db.ExecContext(ctx, `INSERT INTO sessions
		(id, token_hash, resident_id, created_at, last_seen_at, expires_at, auth_time, acr, amr, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		s.ID, secret.Hash(token), s.ResidentID, ts(s.CreatedAt), ts(s.LastSeenAt), ts(s.ExpiresAt), ts(s.AuthTime),
		s.ACR, strings.Join(s.AMR, " "), s.UserAgent)
	if err != nil {
		return Session{}, fmt.Errorf("session: create: %w", err)
	}
	http.SetCookie(w, m.cookie(token, int(m.opts.AbsoluteTimeout/time.Second)))
	return s, nil
}

// cookie returns the session cookie with value and Max-Age maxAge (negative:
// delete it now).
func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     m.opts.CookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   m.opts.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// Get returns the request's live session, or ErrNoSession when the request
// has no session cookie, the token is unknown, or the session is revoked or
// expired (idle or absolute). A session found expired is revoked there and
// then. Get moves last_seen_at forward when it is a minute old or more, not
// on every request.
func (m *Manager) Get(ctx context.Context, r *http.Request) (Session, error) {
	hash, ok := m.requestToken(r)
	if !ok {
		return Session{}, ErrNoSession
	}
	var revoked sql.Null[db.Timestamp]
	s, err := scanSession(m.db.QueryRowContext(ctx, `SELECT `+sessionColumns+`, revoked_at
		FROM sessions WHERE token_hash = $1`, hash), &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: get: %w", err)
	}
	if revoked.Valid {
		return Session{}, ErrNoSession
	}
	now := m.timestamp()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= m.opts.IdleTimeout {
		if _, err := m.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`,
			ts(now), s.ID); err != nil {
			return Session{}, fmt.Errorf("session: revoke expired session: %w", err)
		}
		return Session{}, ErrNoSession
	}
	if now.Sub(s.LastSeenAt) >= lastSeenInterval {
		// The last_seen_at guard keeps concurrent requests from moving it back.
		if _, err := m.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1
			WHERE id = $2 AND last_seen_at < $1 AND revoked_at IS NULL`, ts(now), s.ID); err != nil {
			return Session{}, fmt.Errorf("session: touch: %w", err)
		}
		s.LastSeenAt = now
	}
	return s, nil
}

// requestToken returns the hash of the request's session cookie, if it has
// one that could be ours.
func (m *Manager) requestToken(r *http.Request) (string, bool) {
	c, err := r.Cookie(m.opts.CookieName)
	if err != nil || c.Value == "" || len(c.Value) > maxCookieLen {
		return "", false
	}
	return secret.Hash(c.Value), true
}

// liveCondition selects sessions neither revoked nor expired at $2, given
// $3 = $2 − IdleTimeout; Get's expiry test is the same.
const liveCondition = `revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3`

// List returns the resident's live sessions, newest first.
func (m *Manager) List(ctx context.Context, residentID string) ([]Session, error) {
	now := m.timestamp()
	rows, err := m.db.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE resident_id = $1 AND `+liveCondition+`
		ORDER BY created_at DESC, id DESC`, residentID, ts(now), ts(now.Add(-m.opts.IdleTimeout)))
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	defer rows.Close()
	var list []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("session: list: %w", err)
		}
		list = append(list, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	return list, nil
}

// Revoke ends one of the resident's live sessions, named by its public ID.
// It returns ErrNoSession if the ID names no live session of that resident,
// so a resident cannot end, or learn of, another's sessions.
func (m *Manager) Revoke(ctx context.Context, residentID, sessionID string) error {
	now := m.timestamp()
	ids, err := m.endSessions(ctx, `UPDATE sessions SET revoked_at = $2
		WHERE resident_id = $1 AND `+liveCondition+` AND id = $4 RETURNING id`,
		residentID, ts(now), ts(now.Add(-m.opts.IdleTimeout)), sessionID)
	if err != nil {
		return fmt.Errorf("session: revoke: %w", err)
	}
	if len(ids) == 0 {
		return ErrNoSession
	}
	return m.ended(ctx, residentID, ids)
}

// endSessions runs an UPDATE … RETURNING id and collects the IDs.
func (m *Manager) endSessions(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ended tells OnEnd about sessions that just ended.
func (m *Manager) ended(ctx context.Context, residentID string, ids []string) error {
	if m.opts.OnEnd == nil || len(ids) == 0 {
		return nil
	}
	if err := m.opts.OnEnd(ctx, residentID, ids); err != nil {
		return fmt.Errorf("session: after ending sessions: %w", err)
	}
	return nil
}

// RevokeAll ends every live session of the resident except exceptSessionID
// (the current one; "" ends them all) and returns how many it ended.
func (m *Manager) RevokeAll(ctx context.Context, residentID, exceptSessionID string) (int, error) {
	now := m.timestamp()
	ids, err := m.endSessions(ctx, `UPDATE sessions SET revoked_at = $2
		WHERE resident_id = $1 AND `+liveCondition+` AND id <> $4 RETURNING id`,
		residentID, ts(now), ts(now.Add(-m.opts.IdleTimeout)), exceptSessionID)
	if err != nil {
		return 0, fmt.Errorf("session: revoke all: %w", err)
	}
	return len(ids), m.ended(ctx, residentID, ids)
}

// Logout revokes the request's session, if any, and deletes the cookie
// (Max-Age=0 with the same attributes). Logging out without a session only
// deletes the cookie and is not an error.
func (m *Manager) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, m.cookie("", -1))
	hash, ok := m.requestToken(r)
	if !ok {
		return nil
	}
	rows, err := m.db.QueryContext(ctx, `UPDATE sessions SET revoked_at = $1
		WHERE token_hash = $2 AND revoked_at IS NULL RETURNING id, resident_id`, ts(m.timestamp()), hash)
	if err != nil {
		return fmt.Errorf("session: logout: %w", err)
	}
	var id, residentID string
	found := rows.Next()
	if found {
		err = rows.Scan(&id, &residentID)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return fmt.Errorf("session: logout: %w", err)
	}
	if !found {
		return nil
	}
	return m.ended(ctx, residentID, []string{id})
}

// Reauthenticate records a fresh authentication in the request's live
// session sess (the same resident logged in again: prompt=login, max_age,
// step-up): auth_time becomes now, acr and amr are replaced, and the cookie
// gets a new token (the old one stops working), while the session keeps its
// ID — relying parties keep their sid and are not logged out.
func (m *Manager) Reauthenticate(ctx context.Context, w http.ResponseWriter, sess Session, acr string, amr []string) (Session, error) {
	token := secret.Random(tokenBytes)
	now := m.timestamp()
	res, err := m.db.ExecContext(ctx, `UPDATE sessions SET token_hash = $2, auth_time = $3, last_seen_at = $3, acr = $4, amr = $5
		WHERE id = $1 AND resident_id = $6 AND revoked_at IS NULL`,
		sess.ID, secret.Hash(token), ts(now), acr, strings.Join(amr, " "), sess.ResidentID)
	if err != nil {
		return Session{}, fmt.Errorf("session: reauthenticate: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return Session{}, ErrNoSession
	}
	sess.AuthTime, sess.LastSeenAt, sess.ACR, sess.AMR = now, now, acr, append([]string(nil), amr...)
	maxAge := int(sess.ExpiresAt.Sub(now) / time.Second)
	if maxAge <= 0 {
		return Session{}, ErrNoSession
	}
	http.SetCookie(w, m.cookie(token, maxAge))
	return sess, nil
}

const sessionColumns = `id, resident_id, created_at, last_seen_at, expires_at, auth_time, acr, amr, user_agent`

// scanSession scans sessionColumns, then extra.
func scanSession(row interface{ Scan(...any) error }, extra ...any) (Session, error) {
	var (
		s                                Session
		created, seen, expires, authTime db.Timestamp
		amr                              string
	)
	dest := append([]any{&s.ID, &s.ResidentID, &created, &seen, &expires, &authTime, &s.ACR, &amr, &s.UserAgent}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Session{}, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.AuthTime = created.Time, seen.Time, expires.Time, authTime.Time
	s.AMR = strings.Fields(amr)
	return s, nil
}

func ts(t time.Time) db.Timestamp { return db.Timestamp{Time: t} }

// cleanUserAgent makes the header safe to store and show: valid UTF-8, no
// control characters (PostgreSQL refuses NUL in text), at most maxUserAgent
// bytes, cut at a character boundary.
func cleanUserAgent(ua string) string {
	if len(ua) > 4*maxUserAgent {
		ua = ua[:4*maxUserAgent] // a cut character becomes U+FFFD below
	}
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, ua)
	if len(ua) <= maxUserAgent {
		return ua
	}
	cut := maxUserAgent
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// sweepAfter is how long an ended session's row is kept before Sweep
// deletes it (the account's activity log keeps what happened).
const sweepAfter = 24 * time.Hour

// Sweep deletes sessions that ended — revoked, past the absolute timeout or
// idle too long — more than a day ago, and returns how many. Call it now and
// then; Get works without it, the table only grows.
func (m *Manager) Sweep(ctx context.Context) (int64, error) {
	now := m.timestamp()
	cutoff := now.Add(-sweepAfter)
	res, err := m.db.ExecContext(ctx, `DELETE FROM sessions
		WHERE (revoked_at IS NOT NULL AND revoked_at < $1) OR expires_at < $1 OR last_seen_at < $2`,
		ts(cutoff), ts(cutoff.Add(-m.opts.IdleTimeout)))
	if err != nil {
		return 0, fmt.Errorf("session: sweep: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("session: sweep: %w", err)
	}
	return n, nil
}
