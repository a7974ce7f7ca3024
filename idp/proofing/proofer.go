package proofing

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"eidp/internal/db"
)

// Errors from Proof. ErrNotVerified and ErrLocked are written for the person
// proving their identity and never say which detail was wrong or whether an
// ID number exists (DESIGN.md: no user enumeration in error messages).
var (
	// ErrNotVerified: the details do not match a person with a valid card
	// in the civil register — no such ID number, a wrong birth date or
	// name, or a cancelled card, deliberately indistinguishable.
	ErrNotVerified = errors.New("we could not verify these details: please check your identity card number, date of birth and name as printed on your card")
	// ErrLocked: too many unsuccessful attempts; errors.As with
	// *LockedError gives the time to wait.
	ErrLocked = errors.New("too many unsuccessful attempts: please try again later")
	// ErrClientAddress: the client address given to Proof is not an IP
	// address. A programming error in the caller, not the person's fault.
	ErrClientAddress = errors.New("proofing: client address is not an IP address")
)

// LockedError is the error Proof returns while an identity or an address
// is locked out. It matches ErrLocked with errors.Is.
type LockedError struct {
	// RetryAfter is how long until the lockout ends, rounded up to a whole
	// second (as an HTTP Retry-After header carries it, RFC 9110 §10.2.3).
	RetryAfter time.Duration
}

func (e *LockedError) Error() string { return ErrLocked.Error() }
func (e *LockedError) Unwrap() error { return ErrLocked }

// Limits bounds failed proofing attempts. A zero (or negative) field takes
// its default.
type Limits struct {
	MaxFailuresPerIdentity int           // default 5 per Window, then locked for Lockout
	MaxFailuresPerAddress  int           // default 20 per Window
	Window                 time.Duration // default 15 min
	Lockout                time.Duration // default 30 min
}

func (l Limits) withDefaults() Limits {
	if l.MaxFailuresPerIdentity <= 0 {
		l.MaxFailuresPerIdentity = 5
	}
	if l.MaxFailuresPerAddress <= 0 {
		l.MaxFailuresPerAddress = 20
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	if l.Lockout <= 0 {
		l.Lockout = 30 * time.Minute
	}
	return l
}

// Proofer checks what people say about themselves against the civil
// register, with rate limits and lockout kept in the database
// (proofing_failures), so that every node of a cluster enforces the same
// limits. It is safe for concurrent use.
//
// # Counting
//
// Each subject — an identity (a SHA-256 of the canonical ID number, never the
// number) and a client address (an IPv4 address, or the /64 of an IPv6
// address, also hashed) — has a fixed window that opens at its first failure
// and lasts Limits.Window; a failure that reaches the maximum inside the
// window locks the subject for Limits.Lockout, after which it starts afresh.
//
// An attempt is charged to its subjects before the register is asked, in
// the same transaction that checks the lockouts, and the charge is given
// back if the attempt did not fail. Counting after the answer would let an
// attacker who sends many guesses at once make them all before the first
// one is counted; charging first keeps the limit exact under concurrency.
type Proofer struct {
	db       *db.DB
	register CivilRegister
	limits   Limits
	now      func() time.Time
}

// NewProofer returns a Proofer that asks reg and keeps its counters in d.
func NewProofer(d *db.DB, reg CivilRegister, limits Limits) *Proofer {
	return &Proofer{db: d, register: reg, limits: limits.withDefaults(), now: time.Now}
}

// maxQueryField bounds the birth date and the name: longer input cannot
// match and is not passed on to the register.
const maxQueryField = 256

// Proof checks q against the civil register and returns the person's record
// (CardValid true) when the ID number, birth date and name all match a
// person whose card is valid. clientAddr is the client's IP address, with or
// without a port ("203.0.113.7", "[2001:db8::1]:443").
//
// Errors:
//   - ErrNotVerified: no match, or a cancelled card; the same error value in
//     every case, counted as a failure of the identity and of the address.
//   - *LockedError (errors.Is ErrLocked): the identity or the address has
//     failed too often; nothing was checked and nothing counted.
//   - ErrIDNumberFormat, ErrIDNumberCheckDigit: the ID number is malformed;
//     counted against the address only (a malformed number names no
//     identity).
//   - ErrClientAddress, or a wrapped database or register error: proofing
//     could not be done; the attempt is not counted.
//
// A success resets the identity's counter but not the address's, so that an
// address cannot clear its failures by proofing a person it knows.
func (p *Proofer) Proof(ctx context.Context, q Query, clientAddr string) (Record, error) {
	address, err := addressSubject(clientAddr)
	if err != nil {
		return Record{}, err
	}
	counters := []counter{{subject: address, max: p.limits.MaxFailuresPerAddress}}
	idNumber, idErr := NormalizeIDNumber(q.IDNumber)
	if idErr == nil {
		counters = append(counters, counter{subject: identitySubject(idNumber), max: p.limits.MaxFailuresPerIdentity, resetOnSuccess: true})
	}

	windows, err := p.charge(ctx, counters)
	if err != nil {
		return Record{}, err
	}
	if idErr != nil {
		return Record{}, idErr // the charge to the address stands
	}

	q.IDNumber = idNumber
	var r Record
	if len(q.BirthDate) > maxQueryField || len(q.Name) > maxQueryField {
		err = ErrNoMatch
	} else {
		r, err = p.register.Lookup(ctx, q)
	}
	switch {
	case err == nil && r.CardValid:
		// Success: the identity starts afresh; the address gets its
		// charge back but keeps earlier failures.
		if err := p.settle(ctx, counters, windows, true); err != nil {
			return Record{}, err
		}
		return r, nil
	case err == nil, errors.Is(err, ErrNoMatch):
		return Record{}, ErrNotVerified // the charges stand
	default:
		// The register did not answer: not the person's failure.
		if serr := p.settle(ctx, counters, windows, false); serr != nil {
			return Record{}, fmt.Errorf("proofing: civil register: %w (and returning the charge: %w)", err, serr)
		}
		return Record{}, fmt.Errorf("proofing: civil register: %w", err)
	}
}

// Sweep deletes the counters that no longer matter: their window has ended
// and they are not locked. Call it now and then (say, hourly); Proof works
// without it, the table only grows. It returns how many rows it deleted.
func (p *Proofer) Sweep(ctx context.Context) (int64, error) {
	now := p.now()
	res, err := p.db.ExecContext(ctx,
		`DELETE FROM proofing_failures
		 WHERE window_start <= $1 AND (locked_until IS NULL OR locked_until <= $2)`,
		now.Add(-p.limits.Window).UnixMicro(), now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("proofing: sweep failure counters: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("proofing: sweep failure counters: %w", err)
	}
	return n, nil
}

// counter is one subject an attempt is charged to, with its limit.
type counter struct {
	subject string
	max     int
	// resetOnSuccess: a success clears the counter (an identity's) instead
	// of only giving back its charge (an address's).
	resetOnSuccess bool
}

// failureRow is a row of proofing_failures; times in Unix microseconds.
type failureRow struct {
	failures    int64
	windowStart int64
	lockedUntil sql.NullInt64
}

// charge counts one failure against each counter's subject in one
// transaction, unless one of them is locked, in which case it changes
// nothing and returns a *LockedError. It returns each subject's window
// start after the charge, for settle.
func (p *Proofer) charge(ctx context.Context, counters []counter) ([]int64, error) {
	now := p.now()
	nowMicros := now.UnixMicro()
	var (
		windows []int64
		wait    time.Duration
	)
	err := p.db.InTx(ctx, func(tx *sql.Tx) error {
		// InTx may run this more than once: start from nothing each time.
		windows, wait = windows[:0], 0
		rows := make([]failureRow, len(counters))
		for i, c := range counters {
			row, found, err := readFailures(ctx, tx, c.subject)
			if err != nil {
				return err
			}
			switch {
			case found && row.lockedUntil.Valid && row.lockedUntil.Int64 > nowMicros:
				wait = max(wait, time.Duration(row.lockedUntil.Int64-nowMicros)*time.Microsecond)
			case !found,
				row.lockedUntil.Valid, // a lockout that has ended: start afresh
				row.windowStart+p.limits.Window.Microseconds() <= nowMicros:
				row = failureRow{windowStart: nowMicros}
			}
			rows[i] = row
		}
		if wait > 0 {
			return nil
		}
		for i, c := range counters {
			row := rows[i]
			row.failures++
			if row.failures >= int64(c.max) {
				row.lockedUntil = sql.NullInt64{Int64: now.Add(p.limits.Lockout).UnixMicro(), Valid: true}
			}
			if err := writeFailures(ctx, tx, c.subject, row); err != nil {
				return err
			}
			windows = append(windows, row.windowStart)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("proofing: count attempt: %w", err)
	}
	if wait > 0 {
		return nil, &LockedError{RetryAfter: (wait + time.Second - 1).Truncate(time.Second)}
	}
	return windows, nil
}

// settle gives back the charges of an attempt that did not fail. With
// success, the counters marked resetOnSuccess are cleared instead.
// A charge is given back only if its window is still the one it was made
// in; a counter that has started afresh since owes nothing.
//
// It runs even if ctx was cancelled after the register answered: leaving
// the charge would count a success as a failure.
func (p *Proofer) settle(ctx context.Context, counters []counter, windows []int64, success bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := p.db.InTx(ctx, func(tx *sql.Tx) error {
		for i, c := range counters {
			if success && c.resetOnSuccess {
				if _, err := tx.ExecContext(ctx, `DELETE FROM proofing_failures WHERE subject = $1`, c.subject); err != nil {
					return fmt.Errorf("reset %s: %w", kind(c.subject), err)
				}
				continue
			}
			row, found, err := readFailures(ctx, tx, c.subject)
			if err != nil {
				return err
			}
			if !found || row.windowStart != windows[i] || row.failures <= 0 {
				continue
			}
			row.failures--
			if row.failures < int64(c.max) {
				row.lockedUntil = sql.NullInt64{}
			}
			if err := writeFailures(ctx, tx, c.subject, row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("proofing: settle attempt: %w", err)
	}
	return nil
}

func readFailures(ctx context.Context, tx *sql.Tx, subject string) (failureRow, bool, error) {
	var row failureRow
	err := tx.QueryRowContext(ctx,
		`SELECT failures, window_start, locked_until FROM proofing_failures WHERE subject = $1`,
		subject).Scan(&row.failures, &row.windowStart, &row.lockedUntil)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return failureRow{}, false, nil
	case err != nil:
		return failureRow{}, false, fmt.Errorf("read %s counter: %w", kind(subject), err)
	}
	return row, true, nil
}

func writeFailures(ctx context.Context, tx *sql.Tx, subject string, row failureRow) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO proofing_failures (subject, failures, window_start, locked_until)
		 VALUES ($1, $2, $3, $4)
		 ON CONFLICT (subject) DO UPDATE SET
		   failures = excluded.failures,
		   window_start = excluded.window_start,
		   locked_until = excluded.locked_until`,
		subject, row.failures, row.windowStart, row.lockedUntil)
	if err != nil {
		return fmt.Errorf("write %s counter: %w", kind(subject), err)
	}
	return nil
}

// Subjects are "id:" or "addr:" and the hex SHA-256 of what they count, so
// that the table holds neither ID numbers nor addresses in clear. The
// prefix inside the hash keeps the two kinds apart.
//
// A plain hash of an ID number can be reversed by trying every number
// (about 10⁹ with the check digit fixed); it keeps the numbers out of
// sight in dumps and logs, not out of reach of someone with the table and
// time. The rows are short-lived (see Sweep).
const (
	identityPrefix = "id:"
	addressPrefix  = "addr:"
)

func identitySubject(canonicalID string) string {
	sum := sha256.Sum256([]byte("eidp/proofing identity\x00" + canonicalID))
	return identityPrefix + hex.EncodeToString(sum[:])
}

// addressSubject returns the subject of a client address: the address
// itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6, because one
// subscriber usually gets a whole /64 (RFC 6177 §2 recommends at least
// that much per site) and could otherwise step through 2⁶⁴ addresses.
func addressSubject(clientAddr string) (string, error) {
	a, err := netip.ParseAddr(clientAddr)
	if err != nil {
		ap, perr := netip.ParseAddrPort(clientAddr)
		if perr != nil {
			return "", ErrClientAddress
		}
		a = ap.Addr()
	}
	a = a.WithZone("").Unmap()
	var key string
	if a.Is4() {
		key = a.String()
	} else {
		prefix, err := a.Prefix(64)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrClientAddress, err)
		}
		key = prefix.String()
	}
	sum := sha256.Sum256([]byte("eidp/proofing address\x00" + key))
	return addressPrefix + hex.EncodeToString(sum[:]), nil
}

// kind names a subject's kind for error messages, which must not carry
// the subject itself.
func kind(subject string) string {
	if strings.HasPrefix(subject, identityPrefix) {
		return "identity"
	}
	return "address"
}
