package db

import (
	"testing"
	"time"
)

// SetSQLiteBusyTimeout makes SQLite databases opened from now on, until the
// test ends, give up waiting for a lock after ms milliseconds. Tests that use
// it must not run in parallel.
func SetSQLiteBusyTimeout(t testing.TB, ms int) {
	old := sqliteBusyTimeoutMillis
	sqliteBusyTimeoutMillis = ms
	t.Cleanup(func() { sqliteBusyTimeoutMillis = old })
}

// TxAttempts is how many times InTx tries a transaction in all.
var TxAttempts = defaultRetryPolicy.attempts

// SetRetryPause makes InTx on d pause at most max between tries, so that
// tests exhausting the tries run fast.
func SetRetryPause(d *DB, max time.Duration) {
	d.retry.base, d.retry.max = max, max
}

// SetWriteQueueWait makes writers on SQLite give up their place in the
// process's queue after d, until the test ends. Tests that use it must not
// run in parallel.
func SetWriteQueueWait(t testing.TB, d time.Duration) {
	old := sqliteWriteQueueWait
	sqliteWriteQueueWait = d
	t.Cleanup(func() { sqliteWriteQueueWait = old })
}
