package accesslog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"eidp/internal/db"
)

// ErrTampered: a resident's chain does not verify — an entry was altered,
// removed, inserted or moved, or the chain head does not match its newest
// entry. The wrapping error names the resident, the entry and what is wrong.
var ErrTampered = errors.New("accesslog: the chain does not verify")

// Entry is one release of vault data to a relying party.
type Entry struct {
	ResidentID string
	Seq        int64 // 1, 2, 3 … per resident; set by Append
	At         time.Time
	ClientID   string
	ClientName string   // the service's name at the time, as the resident saw it
	Attributes []string // attribute names (never values), sorted
	Consent    string   // reference to the consent record
	RequestID  string
	PrevHash   string // hex SHA-256 of the previous entry; "" for seq 1
	Hash       string // hex SHA-256 of this entry (see doc.go)
}

// Problem is one reason a resident's chain does not verify.
type Problem struct {
	ResidentID string
	Seq        int64 // the entry concerned
	Reason     string
}

func (p Problem) String() string {
	return fmt.Sprintf("resident %s, entry %d: %s", p.ResidentID, p.Seq, p.Reason)
}

// Limits on an entry, so that the log stays a log of names and references.
const (
	maxIDLen         = 512 // resident, client, consent and request IDs
	maxClientNameLen = 256
	maxAttributes    = 64
	maxAttributeLen  = 64
	// DefaultListLimit is what List returns for limit ≤ 0; MaxListLimit caps
	// larger limits.
	DefaultListLimit = 50
	MaxListLimit     = 1000
	// appendAttempts bounds how often Append retries after losing a race for
	// the next seq to a concurrent append for the same resident.
	appendAttempts = 50
)

// Log is the vault access log in the database (tables vault_access_log and
// vault_access_heads).
type Log struct {
	db  *db.DB
	now func() time.Time // tests replace it (export_test.go)
}

// New returns a Log on d (migrated).
func New(d *db.DB) *Log {
	return &Log{db: d, now: time.Now}
}

// errLostRace: another append for the same resident took the next seq
// first; Append tries again on the new head.
var errLostRace = errors.New("accesslog: a concurrent append took the next seq")

// Append adds e to the chain of e.ResidentID and returns it as stored: Seq,
// At (now, UTC, to the microsecond), PrevHash and Hash are set here,
// whatever e held. The entry and the chain head are written in one
// transaction. Concurrent appends for the same resident are serialised: the
// transaction reads the head, inserts entry head+1 (the (resident_id, seq)
// primary key admits only one) and moves the head only if it still names
// the entry it read; the loser of a race tries again on the new head.
//
// Validation: ResidentID and ClientID must be non-empty, at least one
// attribute must be named, no attribute twice; IDs at most 512 bytes, the
// client name 256, at most 64 attribute names of 1–64 bytes; every field
// valid UTF-8 without control characters. Attributes are stored sorted.
//
// Append cannot tell a name from a value: callers must pass attribute
// names from the vault's schema ("address", never "12 Harbour Road") and
// references (client ID, consent ID, request ID), never personal data — the
// log outlives the account and is kept after erasure.
//
// Append refuses (an error wrapping ErrTampered) to extend a chain whose
// head is missing or does not match its newest entry, because extending it
// would re-create a head over a truncated chain and hide the removal. A
// release that cannot be logged must not happen: callers treat any error
// as "do not release".
func (l *Log) Append(ctx context.Context, e Entry) (Entry, error) {
	if err := check(&e); err != nil {
		return Entry{}, fmt.Errorf("accesslog: append: %w", err)
	}
	js, err := json.Marshal(e.Attributes)
	if err != nil {
		return Entry{}, fmt.Errorf("accesslog: append: %w", err)
	}
	for attempt := 1; ; attempt++ {
		var stored Entry
		// The head row is locked for the append (FOR UPDATE): appends to
		// one chain queue behind each other, appends to different chains
		// do not touch each other (SERIALIZABLE made them fail each other
		// through shared index pages, more often as the log grew).
		err := l.db.InTxLocked(ctx, func(tx *sql.Tx) error {
			var err error
			stored, err = l.appendTx(ctx, tx, e, string(js))
			return err
		})
		if err == nil {
			return stored, nil
		}
		if !errors.Is(err, errLostRace) && !db.IsUniqueViolation(err) {
			return Entry{}, fmt.Errorf("accesslog: append for resident %s: %w", e.ResidentID, err)
		}
		if attempt >= appendAttempts {
			return Entry{}, fmt.Errorf("accesslog: append for resident %s: gave up after %d tries: %w", e.ResidentID, attempt, err)
		}
		// Jittered, so that the appends that collided do not collide again
		// in lock step.
		pause := time.NewTimer(rand.N(time.Duration(min(attempt, 10)) * 2 * time.Millisecond))
		select {
		case <-ctx.Done():
			pause.Stop()
			return Entry{}, fmt.Errorf("accesslog: append for resident %s: %w", e.ResidentID, ctx.Err())
		case <-pause.C:
		}
	}
}

// appendTx is one try of Append. e has been checked; attributes is its
// attribute list as JSON.
func (l *Log) appendTx(ctx context.Context, tx *sql.Tx, e Entry, attributes string) (Entry, error) {
	var (
		headSeq  int64
		headHash string
	)
	// Make sure the head row exists (seq 0, no hash: an empty chain), so
	// that even the first two appends of a chain queue on its lock. Only
	// this transaction's own insert can leave it at seq 0, and the append
	// below moves it on (or the transaction rolls back).
	if _, err := tx.ExecContext(ctx, `INSERT INTO vault_access_heads (resident_id, seq, hash) VALUES ($1, 0, '')
		ON CONFLICT (resident_id) DO NOTHING`, e.ResidentID); err != nil {
		return Entry{}, fmt.Errorf("create chain head: %w", err)
	}
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM vault_access_heads WHERE resident_id = $1`+l.db.ForUpdate(),
		e.ResidentID).Scan(&headSeq, &headHash)
	haveHead := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("read chain head: %w", err)
	}
	// The head must match the newest entry (see Append); an absent head
	// must mean an empty chain.
	var newest sql.Null[int64]
	var newestHash sql.Null[string]
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM vault_access_log
		WHERE resident_id = $1 ORDER BY seq DESC LIMIT 1`, e.ResidentID).Scan(&newest, &newestHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Entry{}, fmt.Errorf("read newest entry: %w", err)
	}
	switch {
	case !haveHead && newest.Valid:
		return Entry{}, fmt.Errorf("%w: resident %s: entries up to %d exist but the chain head is missing; run `eidp vault verify-log`",
			ErrTampered, e.ResidentID, newest.V)
	case haveHead && (newest.V != headSeq || newestHash.V != headHash):
		return Entry{}, fmt.Errorf("%w: resident %s: the chain head (entry %d) does not match the newest entry; run `eidp vault verify-log`",
			ErrTampered, e.ResidentID, headSeq)
	}

	e.Seq, e.PrevHash = headSeq+1, headHash
	e.At = l.now().UTC().Truncate(time.Microsecond)
	e.Hash = entryHash(e)
	_, err = tx.ExecContext(ctx, `INSERT INTO vault_access_log
		(resident_id, seq, at, client_id, client_name, attributes, consent, request_id, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ResidentID, e.Seq, db.Timestamp{Time: e.At}, e.ClientID, e.ClientName, attributes,
		e.Consent, e.RequestID, e.PrevHash, e.Hash)
	if err != nil {
		return Entry{}, fmt.Errorf("insert entry %d: %w", e.Seq, err)
	}
	if !haveHead {
		// A concurrent first append inserts the same key: a unique
		// violation, retried by Append.
		_, err = tx.ExecContext(ctx, `INSERT INTO vault_access_heads (resident_id, seq, hash) VALUES ($1, $2, $3)`,
			e.ResidentID, e.Seq, e.Hash)
		if err != nil {
			return Entry{}, fmt.Errorf("create chain head: %w", err)
		}
		return e, nil
	}
	// Move the head only from the entry this transaction chained to.
	res, err := tx.ExecContext(ctx, `UPDATE vault_access_heads SET seq = $2, hash = $3
		WHERE resident_id = $1 AND seq = $4 AND hash = $5`, e.ResidentID, e.Seq, e.Hash, headSeq, headHash)
	if err != nil {
		return Entry{}, fmt.Errorf("move chain head: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Entry{}, fmt.Errorf("move chain head: %w", err)
	} else if n != 1 {
		return Entry{}, errLostRace
	}
	return e, nil
}

// check validates e for Append and sorts a copy of its attributes.
func check(e *Entry) error {
	if e.ResidentID == "" {
		return errors.New("resident ID is empty")
	}
	if e.ClientID == "" {
		return errors.New("client ID is empty")
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"resident ID", e.ResidentID, maxIDLen},
		{"client ID", e.ClientID, maxIDLen},
		{"client name", e.ClientName, maxClientNameLen},
		{"consent", e.Consent, maxIDLen},
		{"request ID", e.RequestID, maxIDLen},
	} {
		if err := checkText(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	if len(e.Attributes) == 0 {
		return errors.New("no attribute named: an entry records the release of at least one")
	}
	if len(e.Attributes) > maxAttributes {
		return fmt.Errorf("%d attributes, at most %d allowed", len(e.Attributes), maxAttributes)
	}
	attrs := slices.Clone(e.Attributes)
	slices.Sort(attrs)
	for i, a := range attrs {
		if a == "" {
			return errors.New("an attribute name is empty")
		}
		if err := checkText("attribute name", a, maxAttributeLen); err != nil {
			return err
		}
		if i > 0 && attrs[i-1] == a {
			return fmt.Errorf("attribute %q named twice", a)
		}
	}
	e.Attributes = attrs
	return nil
}

func checkText(name, value string, max int) error {
	if len(value) > max {
		return fmt.Errorf("%s is %d bytes, at most %d allowed", name, len(value), max)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	if strings.ContainsFunc(value, unicode.IsControl) {
		return fmt.Errorf("%s contains a control character", name)
	}
	return nil
}

// entryColumns are the columns scanEntry reads, in order.
const entryColumns = `resident_id, seq, at, client_id, client_name, attributes, consent, request_id, prev_hash, hash`

type scanner interface{ Scan(dest ...any) error }

func scanEntry(row scanner) (Entry, error) {
	var (
		e     Entry
		at    db.Timestamp
		attrs string
	)
	if err := row.Scan(&e.ResidentID, &e.Seq, &at, &e.ClientID, &e.ClientName, &attrs,
		&e.Consent, &e.RequestID, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, err
	}
	e.At = at.Time
	if err := json.Unmarshal([]byte(attrs), &e.Attributes); err != nil {
		return Entry{}, fmt.Errorf("entry %d: attributes: %w", e.Seq, err)
	}
	return e, nil
}

// List returns the resident's most recent entries, newest first: at most
// limit (DefaultListLimit when limit ≤ 0, never more than MaxListLimit).
// It does not verify the chain; Verify does.
func (l *Log) List(ctx context.Context, residentID string, limit int) ([]Entry, error) {
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	rows, err := l.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM vault_access_log
		WHERE resident_id = $1 ORDER BY seq DESC LIMIT $2`, residentID, limit)
	if err != nil {
		return nil, fmt.Errorf("accesslog: list: %w", err)
	}
	defer rows.Close()
	var entries []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("accesslog: list: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("accesslog: list: %w", err)
	}
	return entries, nil
}
