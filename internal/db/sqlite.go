package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteBusyTimeoutMillis is how long a connection waits for another one's
// write lock before SQLite reports SQLITE_BUSY (InTx then retries).
var sqliteBusyTimeoutMillis = 5000

// sqliteDSN returns the modernc.org/sqlite data source name for the file at
// path. The settings are DSN parameters rather than statements run after
// Open, because database/sql opens connections on its own whenever the pool
// needs one, and each of them must carry the same settings:
//
//   - busy_timeout: wait for a lock instead of failing at once. It is set
//     first (modernc orders it so) because the others may need a lock.
//   - journal_mode=WAL: readers do not block the writer nor it them.
//   - synchronous=FULL: in WAL mode NORMAL does not sync the log at each
//     commit, so a power loss could drop transactions already acknowledged;
//     FULL does.
//   - foreign_keys=ON: off by default in SQLite, always on in PostgreSQL.
//   - _txlock=immediate: BeginTx issues BEGIN IMMEDIATE, taking the write lock
//     up front. A deferred transaction that reads and then writes must
//     upgrade its lock, and two such upgrades deadlock; SQLite answers one of
//     them SQLITE_BUSY at once, without honouring busy_timeout. Read-only
//     transactions (sql.TxOptions{ReadOnly: true}) still begin deferred.
func sqliteDSN(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: sqlite:%s: %w", ErrBadURL, path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMillis))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	// A "file:" URI, so that SQLite takes the path verbatim once the three
	// characters that are special in a URI are escaped.
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + escaped + "?" + q.Encode(), nil
}

func openSQLite(path string) (*sql.DB, error) {
	dsn, err := sqliteDSN(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%w: sqlite:%s: %w", ErrUnreachable, path, err)
	}
	d, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: sqlite:%s: %w", ErrUnreachable, path, err)
	}
	return d, nil
}

// checkSQLitePragmas verifies that the DSN settings took effect: SQLite
// ignores a journal mode it cannot use (WAL needs shared memory, which some
// network file systems lack) instead of failing.
func checkSQLitePragmas(ctx context.Context, d *sql.DB) error {
	var mode string
	if err := d.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want \"wal\" (is the file on a local file system?)", mode)
	}
	return nil
}
