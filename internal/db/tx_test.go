package db_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"eidp/internal/db"
	"eidp/internal/testenv"
)

func counterDB(t *testing.T, url string) *db.DB {
	t.Helper()
	d := open(t, url)
	mustExec(t, d, `CREATE TABLE counter (id INTEGER NOT NULL PRIMARY KEY, n BIGINT NOT NULL)`)
	mustExec(t, d, `INSERT INTO counter (id, n) VALUES (1, 0)`)
	return d
}

// increment reads the counter and writes it back plus one: a lost update
// waiting to happen unless transactions are serializable.
func increment(ctx context.Context, tx *sql.Tx) error {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+1)
	return err
}

const hammerWorkers, hammerEach = 8, 25

// hammer runs body in transactions started by run, hammerEach times from
// each of hammerWorkers goroutines, checks that the counter counted every
// one, and returns how many times body ran (retries included).
func hammer(t *testing.T, d *db.DB, run func(context.Context, func(*sql.Tx) error) error, body func(*sql.Tx) error) int64 {
	t.Helper()
	ctx := testCtx(t)
	var (
		wg    sync.WaitGroup
		calls atomic.Int64
	)
	for range hammerWorkers {
		wg.Go(func() {
			for range hammerEach {
				if err := run(ctx, func(tx *sql.Tx) error { calls.Add(1); return body(tx) }); err != nil {
					t.Errorf("transaction: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != hammerWorkers*hammerEach {
		t.Errorf("counter = %d, want %d", n, hammerWorkers*hammerEach)
	}
	return calls.Load()
}

func TestInTxReadModifyWriteLosesNoUpdate(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := counterDB(t, tdb.URL)
		ctx := testCtx(t)
		tries := hammer(t, d, d.InTx, func(tx *sql.Tx) error { return increment(ctx, tx) })
		t.Logf("%d increments took %d tries", hammerWorkers*hammerEach, tries)
	})
}

// Two transactions read the same row, then both write it: PostgreSQL fails
// the second writer with 40001, and InTx runs it again on fresh data.
func TestInTxRetriesPostgresSerializationFailure(t *testing.T) {
	t.Parallel()
	d := counterDB(t, testenv.Postgres(t))
	ctx := testCtx(t)

	var (
		bothRead  sync.WaitGroup
		calls     atomic.Int64
		conflicts atomic.Int64
		wg        sync.WaitGroup
	)
	bothRead.Add(2)
	for range 2 {
		wg.Go(func() {
			first := true
			err := d.InTx(ctx, func(tx *sql.Tx) error {
				calls.Add(1)
				var n int64
				if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
					return err
				}
				if first {
					first = false
					bothRead.Done()
					bothRead.Wait()
				}
				_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+1)
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "40001" {
					conflicts.Add(1)
				}
				return err
			})
			if err != nil {
				t.Errorf("InTx: %v", err)
			}
		})
	}
	wg.Wait()
	if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != 2 {
		t.Errorf("counter = %d, want 2", n)
	}
	if conflicts.Load() != 1 || calls.Load() != 3 {
		t.Errorf("%d serialization failures in %d tries, want 1 in 3", conflicts.Load(), calls.Load())
	}
}

// Another process holds SQLite's write lock longer than busy_timeout:
// BEGIN fails with SQLITE_BUSY, and InTx keeps trying until the lock is free.
func TestInTxRetriesSQLiteBusy(t *testing.T) {
	// Not parallel: SetSQLiteBusyTimeout changes a package default.
	db.SetSQLiteBusyTimeout(t, 50)
	url := testenv.SQLite(t)
	d := counterDB(t, url)
	ctx := testCtx(t)

	holder := open(t, url)
	lock, err := holder.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.ExecContext(ctx, `UPDATE counter SET n = n + 100 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}

	if tx, err := d.BeginTx(ctx, nil); err == nil {
		tx.Rollback()
		t.Fatal("began a write transaction while another connection holds the write lock")
	} else {
		t.Logf("without retry: %v", err)
	}

	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := lock.Commit(); err != nil {
			t.Errorf("commit the lock holder: %v", err)
		}
		close(released)
	}()
	if err := d.InTx(ctx, func(tx *sql.Tx) error { return increment(ctx, tx) }); err != nil {
		t.Fatalf("InTx while the database was busy: %v", err)
	}
	<-released
	if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != 101 {
		t.Errorf("counter = %d, want 101 (the holder's 100, then our 1)", n)
	}
}

func TestInTxGivesUpAfterBoundedTries(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		db.SetRetryPause(d, time.Millisecond)
		serializationFailure := &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
		var calls int
		err := d.InTx(testCtx(t), func(*sql.Tx) error {
			calls++
			return serializationFailure
		})
		if !errors.Is(err, serializationFailure) {
			t.Errorf("InTx = %v, want the last serialization failure", err)
		}
		if calls != db.TxAttempts {
			t.Errorf("fn ran %d times, want %d", calls, db.TxAttempts)
		}
	})
}

func TestInTxStopsRetryingWhenContextEnds(t *testing.T) {
	t.Parallel()
	d := open(t, testenv.SQLite(t))
	ctx, cancel := context.WithCancel(testCtx(t))
	var calls int
	err := d.InTx(ctx, func(*sql.Tx) error {
		calls++
		cancel()
		return &pgconn.PgError{Code: "40P01", Message: "deadlock detected"}
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("InTx = %v after %d tries, want context.Canceled after 1", err, calls)
	}
}

func TestInTxRollsBackOnErrorAndPanic(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := counterDB(t, tdb.URL)
		ctx := testCtx(t)
		errRefused := errors.New("refused")

		var calls int
		err := d.InTx(ctx, func(tx *sql.Tx) error {
			calls++
			if err := increment(ctx, tx); err != nil {
				return err
			}
			return errRefused
		})
		if !errors.Is(err, errRefused) || calls != 1 {
			t.Errorf("InTx = %v after %d tries, want errRefused after 1 (no retry)", err, calls)
		}

		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v, want the panic to pass through", r)
				}
			}()
			d.InTx(ctx, func(tx *sql.Tx) error {
				if err := increment(ctx, tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()

		if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != 0 {
			t.Errorf("counter = %d after failed transactions, want 0", n)
		}
		if inUse := d.Stats().InUse; inUse != 0 {
			t.Errorf("%d connections still in use", inUse)
		}
	})
}

// TestInTxLockedReadModifyWriteWithRowLock: under InTxLocked a
// read-modify-write that locks its row (ForUpdate) loses no update, on
// PostgreSQL at READ COMMITTED and without a serialization failure.
func TestInTxLockedReadModifyWriteWithRowLock(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := counterDB(t, tdb.URL)
		ctx := testCtx(t)
		tries := hammer(t, d, d.InTxLocked, func(tx *sql.Tx) error {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`+d.ForUpdate()).Scan(&n); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+1)
			return err
		})
		if d.Engine == db.EnginePostgres {
			if tries != hammerWorkers*hammerEach {
				t.Errorf("%d tries for %d increments: row locks should need no retry", tries, hammerWorkers*hammerEach)
			}
			var level string
			d.InTxLocked(ctx, func(tx *sql.Tx) error {
				return tx.QueryRowContext(ctx, `SHOW transaction_isolation`).Scan(&level)
			})
			if level != "read committed" {
				t.Errorf("InTxLocked runs at %q on PostgreSQL, want read committed", level)
			}
		}
	})
}

// holdWriteTransaction starts a transaction that increments the counter and
// then holds the write lock until release is closed; it returns once the
// increment is done, with the channel InTx's result will come on.
func holdWriteTransaction(ctx context.Context, d *db.DB, release <-chan struct{}) <-chan error {
	holding, first := make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		first <- d.InTx(ctx, func(tx *sql.Tx) error {
			err := increment(ctx, tx)
			once.Do(func() { close(holding) })
			if err != nil {
				return err
			}
			<-release
			return nil
		})
		once.Do(func() { close(holding) })
	}()
	<-holding
	return first
}

// Write transactions of one process on SQLite queue in the process, not in
// SQLite's busy handler: with a busy timeout of 1 ms and 1 ms between
// tries, a second transaction that met the lock in SQLite would use up its
// tries long before the first one (holding the lock 300 ms) ends; queued,
// it runs once, after the first has committed. One that gives up while
// queued returns its context's error and never runs.
func TestInTxQueuesSQLiteWritersOfOneProcess(t *testing.T) {
	// Not parallel: SetSQLiteBusyTimeout changes a package default.
	db.SetSQLiteBusyTimeout(t, 1)
	d := counterDB(t, testenv.SQLite(t))
	db.SetRetryPause(d, time.Millisecond)
	ctx := testCtx(t)

	release := make(chan struct{})
	first := holdWriteTransaction(ctx, d, release)

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	ran := false
	if err := d.InTx(short, func(*sql.Tx) error { ran = true; return nil }); !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("InTx that gave up while queued = %v (ran %t), want context.DeadlineExceeded without running", err, ran)
	}

	time.AfterFunc(300*time.Millisecond, func() { close(release) })
	var calls int
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		calls++
		select {
		case <-release:
		default:
			return errors.New("ran while the first transaction held the lock")
		}
		return increment(ctx, tx)
	})
	if err != nil || calls != 1 {
		t.Fatalf("the queued transaction: %v after %d tries, want one successful try", err, calls)
	}
	if err := <-first; err != nil {
		t.Fatalf("the first transaction: %v", err)
	}
	if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != 2 {
		t.Errorf("counter = %d, want 2", n)
	}
}

// A statement outside a transaction takes its turn too: with a busy
// timeout of 1 ms it would fail at once while a transaction holds the
// lock; queued, it runs when that transaction has committed.
func TestExecContextQueuesWithSQLiteWriters(t *testing.T) {
	// Not parallel: SetSQLiteBusyTimeout changes a package default.
	db.SetSQLiteBusyTimeout(t, 1)
	d := counterDB(t, testenv.SQLite(t))
	ctx := testCtx(t)

	release := make(chan struct{})
	first := holdWriteTransaction(ctx, d, release)
	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	if _, err := d.ExecContext(ctx, `UPDATE counter SET n = n * 10 WHERE id = 1`); err != nil {
		t.Fatalf("an UPDATE while a transaction held the lock: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the transaction: %v", err)
	}
	if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != 10 {
		t.Errorf("counter = %d, want 10 (the transaction's 1, then × 10)", n)
	}
}

// Writing through the DB from inside one of its own transactions is a
// misuse (use the tx); it must fail as it did before the queue, not wait
// for a turn that its own transaction holds.
func TestAWriteThroughTheDBInsideItsOwnTransactionFails(t *testing.T) {
	// Not parallel: both setters change package defaults.
	db.SetSQLiteBusyTimeout(t, 1)
	db.SetWriteQueueWait(t, 50*time.Millisecond)
	d := counterDB(t, testenv.SQLite(t))
	ctx := testCtx(t)
	misuse := errors.New("misuse")
	var inner error
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		if err := increment(ctx, tx); err != nil {
			return err
		}
		_, inner = d.ExecContext(ctx, `UPDATE counter SET n = 100 WHERE id = 1`)
		return misuse
	})
	if !errors.Is(err, misuse) || inner == nil {
		t.Fatalf("InTx = %v, inner write = %v: want the inner write refused (SQLITE_BUSY)", err, inner)
	}
	t.Logf("the inner write: %v", inner)
	if n := queryInt(t, d, `SELECT n FROM counter WHERE id = 1`); n != 0 {
		t.Errorf("counter = %d, want 0 (rolled back, the inner write refused)", n)
	}
}
