package logout

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"eidp/idp/client"
	"eidp/internal/db"
	"eidp/internal/fetch"
	"eidp/internal/secret"
)

// ErrInvalidNotice: a Notice lacks its client or its subject. Enqueue then
// stores nothing.
var ErrInvalidNotice = errors.New("logout: invalid notice")

// Defaults for zero Options fields.
const (
	DefaultMaxAttempts = 8
	DefaultInterval    = 5 * time.Second
	DefaultBatch       = 50
)

const (
	// EventBackchannelLogout is the member of the events claim that makes a
	// JWT a Logout Token (Back-Channel Logout §2.4).
	EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
	// TokenType is the Logout Token's JOSE typ header (§2.4: explicit typing
	// keeps it from being taken for another kind of JWT, §4.1).
	TokenType = "logout+jwt"
	// TokenLifetime is exp − iat of a Logout Token: long enough for clock
	// skew between eidp and the RP, short enough that a token seen in transit
	// is soon useless.
	TokenLifetime = 2 * time.Minute

	// maxConcurrent deliveries of one pass: enough that one slow RP does not
	// hold up the others, few enough that a node does not flood anyone.
	maxConcurrent = 4
	// claimLease is how far next_attempt_at is pushed when a delivery is
	// claimed: far beyond one exchange (fetch bounds it, 5 s by default), so
	// that no other node picks the row up while it is being sent; if the
	// sending node dies, another sends it after the lease.
	claimLease = 5 * time.Minute
	// recordTimeout bounds writing an outcome, which must happen even if the
	// pass's context ends meanwhile (a delivered row must not be sent again).
	recordTimeout = 10 * time.Second
	// maxErrorLen bounds last_error.
	maxErrorLen = 500
	// Default backoff: baseBackoff·2^(attempt−1), at most maxBackoff, ±20 %.
	baseBackoff = 10 * time.Second
	maxBackoff  = time.Hour
	idBytes     = 16
)

// Sign signs claims as a JWS with the given alg ("" = default ES256) and
// JOSE header typ; the provider passes its HSM-backed signer.
type Sign func(ctx context.Context, alg, typ string, claims map[string]any) (string, error)

// Notice asks for one client to be told that a session ended. Subject and
// SID are as that client knows them (pairwise subject; the sid its ID tokens
// carried); SID may be empty, and the Logout Token then names only the
// subject, which tells the RP to end all of that resident's sessions (§2.4).
type Notice struct {
	ClientID, Subject, SID string
}

// Options configure a Notifier. A zero field takes its default.
type Options struct {
	// Issuer is the iss of Logout Tokens: eidp's issuer identifier.
	Issuer string
	// Fetcher makes the POSTs; default fetch.New(fetch.Options{}), the
	// production rules.
	Fetcher *fetch.Fetcher
	// MaxAttempts is how many times a delivery is tried before it is dropped
	// (default 8: with the default backoff, about 21 minutes of trying).
	MaxAttempts int
	// Backoff is the pause after failed attempt number attempt (1, 2, …).
	// Default: 10 s·2^(attempt−1), capped at 1 h, with ±20 % jitter so that
	// the deliveries of one busy moment do not retry in lock step.
	Backoff func(attempt int) time.Duration
	// Interval is how often Run looks for due deliveries (default 5 s);
	// Enqueue wakes it sooner.
	Interval time.Duration
	// Batch is how many deliveries one Deliver pass claims (default 50).
	Batch int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives failures (default slog.Default()).
	Log *slog.Logger
}

// Notifier queues and delivers back-channel logout notifications. It is safe
// for concurrent use; every node runs one (Run), and they share the queue.
type Notifier struct {
	db      *db.DB
	clients *client.Store
	sign    Sign
	opts    Options
	wake    chan struct{}
}

// New returns a Notifier on d (migrated) that reads clients from clients
// and signs Logout Tokens with sign.
func New(d *db.DB, clients *client.Store, sign Sign, opts Options) *Notifier {
	if opts.Fetcher == nil {
		opts.Fetcher = fetch.New(fetch.Options{})
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Notifier{db: d, clients: clients, sign: sign, opts: opts, wake: make(chan struct{}, 1)}
}

// DefaultBackoff is the default Options.Backoff: 10 s·2^(attempt−1), capped
// at 1 h, then varied by up to ±20 % at random.
func DefaultBackoff(attempt int) time.Duration {
	d := maxBackoff
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 { // 10 s·2^19 is already far past the cap
		d = min(baseBackoff<<(attempt-1), maxBackoff)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*mathrand.Float64()))
}

// Enqueue stores one delivery per notice whose client has a
// backchannel_logout_uri (others, and clients that no longer exist, are
// ignored), in one transaction, and wakes Run. It never makes network calls:
// the resident's logout never waits on a relying party. A notice without
// ClientID or Subject gives ErrInvalidNotice and nothing is stored; a notice
// repeated in notices is stored once.
func (n *Notifier) Enqueue(ctx context.Context, notices []Notice) error {
	for i, no := range notices {
		if no.ClientID == "" || no.Subject == "" {
			return fmt.Errorf("%w: notice %d has no client_id or no subject", ErrInvalidNotice, i)
		}
	}
	type row struct {
		id string
		Notice
	}
	var rows []row
	seen := make(map[Notice]bool, len(notices))
	for _, no := range notices {
		if seen[no] {
			continue
		}
		seen[no] = true
		c, err := n.clients.Get(ctx, no.ClientID)
		if errors.Is(err, client.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("logout: enqueue: %w", err)
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		rows = append(rows, row{id: secret.Random(idBytes), Notice: no})
	}
	if len(rows) == 0 {
		return nil
	}
	now := db.Timestamp{Time: n.opts.Now()}
	err := n.db.InTx(ctx, func(tx *sql.Tx) error {
		for _, r := range rows {
			// A client deleted since it was read is skipped rather than
			// failing the whole logout on the foreign key.
			_, err := tx.ExecContext(ctx, `INSERT INTO oidc_logout_deliveries
				(id, client_id, subject, sid, attempts, next_attempt_at, created_at)
				SELECT CAST($1 AS TEXT), id, CAST($2 AS TEXT), CAST($3 AS TEXT), 0, CAST($4 AS BIGINT), CAST($4 AS BIGINT)
				FROM oauth_clients WHERE id = $5`,
				r.id, r.Subject, r.SID, now, r.ClientID)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("logout: enqueue: %w", err)
	}
	select {
	case n.wake <- struct{}{}:
	default: // already awake or about to be
	}
	return nil
}

// delivery is one claimed row.
type delivery struct {
	id, clientID, subject, sid string
	attempts                   int
	// lease is next_attempt_at as this pass set it: the proof of the claim.
	// An outcome is recorded only while the row still carries it, so a pass
	// that overran its lease does not overwrite another node's.
	lease db.Timestamp
}

// outcome of one delivery.
type outcome int

const (
	delivered outcome = iota
	failed
	dropped  // the client no longer wants (or exists for) back-channel logout
	released // the pass ended before the attempt could count
)

// Deliver makes one pass over due deliveries (next_attempt_at ≤ now), at
// most Options.Batch of them, sending up to 4 at once. Each is claimed first
// (next_attempt_at pushed past the time a send can take, in a transaction),
// so that two nodes never send the same row at once. A 2xx answer deletes
// the row; another answer or no answer records last_error (never the token),
// counts the attempt and schedules the next one after Backoff, and after
// MaxAttempts deletes the row and logs a warning. A row whose client has
// meanwhile dropped its backchannel_logout_uri is deleted unsent. It returns
// how many were delivered and how many attempts failed; err reports the
// database, not the relying parties.
func (n *Notifier) Deliver(ctx context.Context) (delivered, failed int, err error) {
	delivered, failed, _, err = n.deliver(ctx)
	return delivered, failed, err
}

func (n *Notifier) deliver(ctx context.Context) (nDelivered, nFailed, claimed int, err error) {
	batch, err := n.claim(ctx)
	if err != nil || len(batch) == 0 {
		return 0, 0, 0, err
	}
	// Clients are read once per pass, before sending; a client deleted
	// since the claim has its rows deleted by the foreign key.
	clients := make(map[string]*client.Client)
	for _, d := range batch {
		if _, ok := clients[d.clientID]; ok {
			continue
		}
		c, err := n.clients.Get(ctx, d.clientID)
		switch {
		case errors.Is(err, client.ErrNotFound):
			clients[d.clientID] = nil
		case err != nil:
			n.releaseAll(ctx, batch)
			return 0, 0, len(batch), fmt.Errorf("logout: deliver: %w", err)
		default:
			clients[d.clientID] = &c
		}
	}

	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, maxConcurrent)
	)
	for _, d := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := n.deliverOne(ctx, d, clients[d.clientID])
			mu.Lock()
			defer mu.Unlock()
			switch out {
			case delivered:
				nDelivered++
			case failed:
				nFailed++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return nDelivered, nFailed, len(batch), errors.Join(errs...)
}

// claim takes up to Batch due rows for this pass.
func (n *Notifier) claim(ctx context.Context) ([]delivery, error) {
	now := n.opts.Now()
	lease := db.Timestamp{Time: now.Add(claimLease)}
	var batch []delivery
	err := n.db.InTx(ctx, func(tx *sql.Tx) error {
		batch = batch[:0]
		rows, err := tx.QueryContext(ctx, `SELECT id, client_id, subject, sid, attempts, next_attempt_at
			FROM oidc_logout_deliveries WHERE next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $2`, db.Timestamp{Time: now}, n.opts.Batch)
		if err != nil {
			return err
		}
		type due struct {
			delivery
			was db.Timestamp
		}
		var candidates []due
		for rows.Next() {
			var c due
			if err := rows.Scan(&c.id, &c.clientID, &c.subject, &c.sid, &c.attempts, &c.was); err != nil {
				rows.Close()
				return err
			}
			candidates = append(candidates, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range candidates {
			// Conditional on the value read: whatever the isolation level,
			// only one claimant can move it.
			res, err := tx.ExecContext(ctx, `UPDATE oidc_logout_deliveries SET next_attempt_at = $1
				WHERE id = $2 AND next_attempt_at = $3`, lease, c.id, c.was)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil {
				return err
			} else if k == 1 {
				c.lease = lease
				batch = append(batch, c.delivery)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("logout: claim deliveries: %w", err)
	}
	return batch, nil
}

// deliverOne sends one claimed delivery and records the outcome.
func (n *Notifier) deliverOne(ctx context.Context, d delivery, c *client.Client) (outcome, error) {
	// The outcome is written even if ctx ends now: a delivered row must not
	// be sent again, a failed one must not wait out the whole lease.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()

	if c == nil || c.BackchannelLogoutURI == "" {
		if _, err := n.db.ExecContext(rctx, `DELETE FROM oidc_logout_deliveries WHERE id = $1`, d.id); err != nil {
			return dropped, fmt.Errorf("logout: drop delivery %s: %w", d.id, err)
		}
		n.opts.Log.Info("back-channel logout: client no longer takes logout notifications; delivery dropped", "client_id", d.clientID)
		return dropped, nil
	}

	sendErr := n.send(ctx, d, c)
	if sendErr == nil {
		if _, err := n.db.ExecContext(rctx, `DELETE FROM oidc_logout_deliveries WHERE id = $1`, d.id); err != nil {
			return delivered, fmt.Errorf("logout: delete delivered %s: %w", d.id, err)
		}
		return delivered, nil
	}
	if ctx.Err() != nil {
		// Shutting down: this attempt does not count; let any node retry soon.
		_, err := n.db.ExecContext(rctx, `UPDATE oidc_logout_deliveries SET next_attempt_at = $1
			WHERE id = $2 AND next_attempt_at = $3`, db.Timestamp{Time: n.opts.Now()}, d.id, d.lease)
		if err != nil {
			return released, fmt.Errorf("logout: release delivery %s: %w", d.id, err)
		}
		return released, nil
	}

	attempts := d.attempts + 1
	lastError := truncate(sendErr.Error(), maxErrorLen)
	if attempts >= n.opts.MaxAttempts {
		res, err := n.db.ExecContext(rctx, `DELETE FROM oidc_logout_deliveries WHERE id = $1 AND next_attempt_at = $2`, d.id, d.lease)
		if err != nil {
			return failed, fmt.Errorf("logout: drop delivery %s: %w", d.id, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n.opts.Log.Warn("back-channel logout: giving up on a delivery",
				"client_id", d.clientID, "attempts", attempts, "last_error", lastError)
		}
		return failed, nil
	}
	next := n.opts.Now().Add(n.opts.Backoff(attempts))
	_, err := n.db.ExecContext(rctx, `UPDATE oidc_logout_deliveries
		SET attempts = $1, next_attempt_at = $2, last_error = $3
		WHERE id = $4 AND next_attempt_at = $5`,
		attempts, db.Timestamp{Time: next}, lastError, d.id, d.lease)
	if err != nil {
		return failed, fmt.Errorf("logout: reschedule delivery %s: %w", d.id, err)
	}
	n.opts.Log.Debug("back-channel logout: delivery failed; will retry",
		"client_id", d.clientID, "attempts", attempts, "next_attempt_at", next, "error", lastError)
	return failed, nil
}

// send signs a fresh Logout Token and POSTs it (§2.5). Its error never
// contains the token.
func (n *Notifier) send(ctx context.Context, d delivery, c *client.Client) error {
	now := n.opts.Now()
	claims := map[string]any{
		"iss":    n.opts.Issuer,
		"aud":    c.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(TokenLifetime).Unix(),
		"jti":    secret.Random(idBytes),
		"events": map[string]any{EventBackchannelLogout: map[string]any{}},
		"sub":    d.subject,
	}
	if d.sid != "" {
		claims["sid"] = d.sid
	}
	token, err := n.sign(ctx, c.IDTokenSignedResponseAlg, TokenType, claims)
	if err != nil {
		return fmt.Errorf("sign logout token: %w", err)
	}
	// The registered URI is used as is, query string included (§2.2).
	_, err = n.opts.Fetcher.PostForm(ctx, c.BackchannelLogoutURI, url.Values{"logout_token": {token}})
	return err
}

// releaseAll gives a pass's claimed rows back when the pass cannot go on.
func (n *Notifier) releaseAll(ctx context.Context, batch []delivery) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := db.Timestamp{Time: n.opts.Now()}
	for _, d := range batch {
		_, _ = n.db.ExecContext(rctx, `UPDATE oidc_logout_deliveries SET next_attempt_at = $1
			WHERE id = $2 AND next_attempt_at = $3`, now, d.id, d.lease)
	}
}

// Run calls Deliver every Interval and whenever Enqueue wakes it, until ctx
// ends; it starts with a pass, for rows left by a node that stopped. A pass
// that filled its batch is followed at once by another.
func (n *Notifier) Run(ctx context.Context) {
	ticker := time.NewTicker(n.opts.Interval)
	defer ticker.Stop()
	for {
		for ctx.Err() == nil {
			_, _, claimed, err := n.deliver(ctx)
			if err != nil {
				if ctx.Err() == nil {
					n.opts.Log.Warn("back-channel logout: delivery pass failed", "error", err)
				}
				break
			}
			if claimed < n.opts.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-n.wake:
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on bytes, then drop a character the cut split: PostgreSQL TEXT
	// takes only valid UTF-8.
	return strings.ToValidUTF8(s[:n], "") + "…"
}
