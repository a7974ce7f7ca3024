package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// retryPolicy bounds how often and how patiently InTx re-runs a transaction.
type retryPolicy struct {
	attempts int           // total tries, including the first
	base     time.Duration // backoff before the second try …
	max      time.Duration // … doubling up to this
}

// defaultRetryPolicy: a transaction that keeps losing to others on a hot row
// must outlast them, because those that win do not back off: up to 20 tries,
// about 6 s of pauses on average in the worst case, which the caller's ctx
// usually cuts short first.
var defaultRetryPolicy = retryPolicy{attempts: 20, base: 4 * time.Millisecond, max: time.Second}

// backoff returns a random pause before try number n+1 (n ≥ 1): "full jitter",
// uniform in [0, min(max, base·2ⁿ⁻¹)], so that transactions that collided do
// not collide again in lock step.
func (p retryPolicy) backoff(n int) time.Duration {
	ceil := p.base << (n - 1)
	if ceil > p.max || ceil <= 0 {
		ceil = p.max
	}
	return rand.N(ceil + 1)
}

// InTx runs fn in a transaction and commits it if fn returns nil; if fn
// returns an error or panics, the transaction is rolled back and the error
// (or panic) passed on.
//
// Transactions are serializable on both engines: PostgreSQL ones run at
// SERIALIZABLE, SQLite ones begin IMMEDIATE (one writer at a time). When the
// engine gives up on a transaction for a reason that another try can fix —
// PostgreSQL SQLSTATE 40001 (serialization_failure) or 40P01
// (deadlock_detected), SQLite SQLITE_BUSY or SQLITE_LOCKED — InTx rolls back,
// waits a jittered, exponentially growing pause (4 ms, 8 ms … up to 1 s) and
// runs fn again, up to 20 times in all, and stops early when ctx is done.
//
// fn may therefore run more than once, and must be idempotent: it must do
// nothing but work through tx, and must not keep state from an earlier run
// (results it gathers are reset at the start of fn, not before InTx). Use tx
// (not the DB) for every statement inside fn; InTx does not nest.
//
// A failed COMMIT that is not one of the retryable errors above (for example
// a connection lost during COMMIT) is returned as is: whether the
// transaction committed is then unknown.
func (d *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var opts *sql.TxOptions
	if d.Engine == EnginePostgres {
		opts = &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	return d.inTx(ctx, opts, fn)
}

// InTxLocked is InTx for transactions that serialise themselves with row
// locks: on PostgreSQL it runs at READ COMMITTED, and fn takes the locks it
// needs with SELECT … FOR UPDATE (append ForUpdate() to the query); on
// SQLite it is InTx (BEGIN IMMEDIATE: one writer at a time already). Use it
// for hot, append-only chains where SERIALIZABLE's predicate locks on
// shared index pages make unrelated writers fail each other
// (serialization_failure) and retry ever more often as the table grows.
// Retries and fn's idempotence are as for InTx.
func (d *DB) InTxLocked(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.Engine == EnginePostgres {
		return d.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, fn)
	}
	return d.InTx(ctx, fn)
}

// ForUpdate is the row-locking clause for a SELECT inside InTxLocked:
// " FOR UPDATE" on PostgreSQL, "" on SQLite (which has no such clause and
// needs none).
func (d *DB) ForUpdate() string {
	if d.Engine == EnginePostgres {
		return " FOR UPDATE"
	}
	return ""
}

// inTx is InTx with explicit transaction options (nil: the engine's default,
// READ COMMITTED on PostgreSQL).
func (d *DB) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = d.runTx(ctx, opts, fn)
		if err == nil || !isRetryable(err) {
			return err
		}
		if attempt >= d.retry.attempts {
			return fmt.Errorf("db: transaction failed %d times, giving up: %w", attempt, err)
		}
		pause := time.NewTimer(d.retry.backoff(attempt))
		select {
		case <-ctx.Done():
			pause.Stop()
			return fmt.Errorf("db: transaction abandoned after %d tries: %w (last try: %w)", attempt, ctx.Err(), err)
		case <-pause.C:
		}
	}
}

// runTx makes one try of fn in a transaction; on SQLite, a write
// transaction waits for its turn first (writeTurn).
func (d *DB) runTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	if opts == nil || !opts.ReadOnly {
		release, err := d.writeTurn(ctx)
		if err != nil {
			return fmt.Errorf("db: begin transaction: %w", err)
		}
		defer release()
	}
	tx, err := d.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("db: begin transaction: %w", err)
	}
	// Rolls back when fn fails or panics; a no-op (sql.ErrTxDone) after
	// Commit, which closes the transaction whether it succeeds or not.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// PostgreSQL SQLSTATEs, Appendix A of the PostgreSQL manual.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
)

// isRetryable reports whether err means "the same transaction may succeed if
// tried again".
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgSerializationFailure || pgErr.Code == pgDeadlockDetected
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		// Extended result codes are on; the primary code is the low byte.
		switch liteErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// IsUniqueViolation reports whether err is a unique-constraint or primary-key
// violation: PostgreSQL SQLSTATE 23505, SQLite SQLITE_CONSTRAINT_UNIQUE or
// SQLITE_CONSTRAINT_PRIMARYKEY.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// sqliteWriteQueueWait bounds how long writeTurn waits for its turn.
var sqliteWriteQueueWait = 5 * time.Second

// writeTurn waits, on SQLite, for this process's turn to write and returns
// the function that ends it; on PostgreSQL it returns at once.
//
// SQLite lets one writer in at a time. Without a queue in the process, the
// others wait in its busy handler, which polls with sleeps of up to 100 ms,
// so under load a write waited far longer than the lock was held (measured
// with eight clients: refresh-token rotation p99 116 ms, vault release
// 94–124 ms; queued: 22–30 ms). Writers of other processes (an eidp command
// beside the server) still meet busy_timeout. After sqliteWriteQueueWait
// without a turn, writeTurn lets the caller go on without one: SQLite's
// busy handler then decides, so that a write through the DB from inside
// one of its own transactions (a misuse: use the tx) fails with
// SQLITE_BUSY as it would without the queue, instead of waiting forever.
func (d *DB) writeTurn(ctx context.Context) (release func(), err error) {
	if d.writer == nil {
		return func() {}, nil
	}
	select { // free: no timer on the uncontended path
	case d.writer <- struct{}{}:
		return d.endTurn, nil
	default:
	}
	wait := time.NewTimer(sqliteWriteQueueWait)
	defer wait.Stop()
	select {
	case d.writer <- struct{}{}:
		return d.endTurn, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-wait.C:
		return func() {}, nil
	}
}

// endTurn gives the write turn back.
func (d *DB) endTurn() { <-d.writer }

// ExecContext is sql.DB's, but on SQLite the statement takes its turn with
// the process's write transactions (writeTurn): an INSERT, UPDATE or DELETE
// outside a transaction needs the same write lock. (Statements inside InTx
// go through the tx, which has its turn already. A write through
// QueryContext or QueryRowContext — INSERT … RETURNING outside a
// transaction — does not queue and meets busy_timeout as before.)
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	release, err := d.writeTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return d.DB.ExecContext(ctx, query, args...)
}
