package db_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"eidp/internal/db"
	"eidp/internal/testenv"
)

func TestOpenSQLiteSetsPragmasOnEveryPooledConnection(t *testing.T) {
	t.Parallel()
	d := open(t, testenv.SQLite(t))
	ctx := testCtx(t)

	// Hold several connections at once so that the pool must open new ones.
	for i := range 3 {
		conn, err := d.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, p := range []struct {
			pragma, want string
		}{
			{"journal_mode", "wal"},
			{"foreign_keys", "1"},
			{"synchronous", "2"}, // FULL
			{"busy_timeout", "5000"},
		} {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
				t.Fatalf("connection %d: PRAGMA %s: %v", i, p.pragma, err)
			}
			if got != p.want {
				t.Errorf("connection %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
			}
		}
	}
}

func TestOpenSQLiteCreatesTheDirectoryPrivately(t *testing.T) {
	// t.Chdir: not parallel.
	dir := t.TempDir()
	t.Chdir(dir)
	d := open(t, "sqlite:data/nested/eidp.db")
	mustExec(t, d, `CREATE TABLE t (x INTEGER)`)

	if _, err := os.Stat(filepath.Join(dir, "data", "nested", "eidp.db")); err != nil {
		t.Fatalf("database file not where the relative path says: %v", err)
	}
	for _, sub := range []string{"data", "data/nested"} {
		info, err := os.Stat(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s has mode %o, want 700", sub, perm)
		}
	}
}

func TestForeignKeysAreEnforced(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		mustExec(t, d, `CREATE TABLE parent (id INTEGER NOT NULL PRIMARY KEY)`)
		mustExec(t, d, `CREATE TABLE child (id INTEGER NOT NULL PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id))`)
		_, err := d.ExecContext(testCtx(t), `INSERT INTO child (id, parent_id) VALUES ($1, $2)`, 1, 42)
		if err == nil {
			t.Fatal("inserted a child whose parent does not exist")
		}
		if db.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true for a foreign-key violation", err)
		}
	})
}

// The SQL subset stores may use runs the same on both engines.
func TestSQLSubsetRunsOnBothEngines(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		ctx := testCtx(t)
		mustExec(t, d, `CREATE TABLE kv (k TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL, n BIGINT NOT NULL)`)

		var n int64
		if err := d.QueryRowContext(ctx,
			`INSERT INTO kv (k, v, n) VALUES ($1, $2, $3) RETURNING n`, "a", "first", 7).Scan(&n); err != nil {
			t.Fatalf("INSERT … RETURNING: %v", err)
		}
		if n != 7 {
			t.Errorf("RETURNING n = %d, want 7", n)
		}

		upsert := `INSERT INTO kv (k, v, n) VALUES ($1, $2, 1)
			ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = kv.n + 1
			RETURNING v, n`
		var v string
		if err := d.QueryRowContext(ctx, upsert, "a", "second").Scan(&v, &n); err != nil {
			t.Fatalf("ON CONFLICT DO UPDATE: %v", err)
		}
		if v != "second" || n != 8 {
			t.Errorf("upsert returned (%q, %d), want (\"second\", 8)", v, n)
		}

		res, err := d.ExecContext(ctx, `INSERT INTO kv (k, v, n) VALUES ($1, $2, $3) ON CONFLICT (k) DO NOTHING`, "a", "third", 0)
		if err != nil {
			t.Fatalf("ON CONFLICT DO NOTHING: %v", err)
		}
		if affected, err := res.RowsAffected(); err != nil || affected != 0 {
			t.Errorf("ON CONFLICT DO NOTHING affected %d rows (%v), want 0", affected, err)
		}

		// $1 used twice, parameters out of textual order.
		mustExec(t, d, `INSERT INTO kv (k, v, n) VALUES ($2, $1, $3)`, "b", "b", 1)
		if got := queryInt(t, d, `SELECT COUNT(*) FROM kv WHERE k = $1 OR v = $1`, "b"); got != 1 {
			t.Errorf("rows matching $1 twice = %d, want 1", got)
		}
		if got := queryInt(t, d, `SELECT n FROM kv WHERE k = $1`, "a"); got != 8 {
			t.Errorf("after DO NOTHING n = %d, want 8 (unchanged)", got)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		ctx := testCtx(t)
		mustExec(t, d, `CREATE TABLE u (id TEXT NOT NULL PRIMARY KEY, email TEXT NOT NULL UNIQUE, age INTEGER NOT NULL CHECK (age >= 0))`)
		mustExec(t, d, `INSERT INTO u (id, email, age) VALUES ($1, $2, $3)`, "1", "a@example.org", 30)

		insert := func(id, email string, age int) error {
			_, err := d.ExecContext(ctx, `INSERT INTO u (id, email, age) VALUES ($1, $2, $3)`, id, email, age)
			return err
		}
		tests := []struct {
			name string
			err  error
			want bool
		}{
			{"a duplicate primary key", insert("1", "b@example.org", 1), true},
			{"a duplicate unique column", insert("2", "a@example.org", 1), true},
			{"a failed CHECK", insert("3", "c@example.org", -1), false},
			{"no error", nil, false},
		}
		for _, tt := range tests {
			if tt.want && tt.err == nil {
				t.Errorf("%s: insert succeeded", tt.name)
				continue
			}
			if got := db.IsUniqueViolation(tt.err); got != tt.want {
				t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
			}
		}
	})
}

func TestTimestampRoundTripsAsUnixMicroseconds(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		ctx := testCtx(t)
		mustExec(t, d, `CREATE TABLE ev (id INTEGER NOT NULL PRIMARY KEY, at BIGINT NOT NULL, done_at BIGINT)`)

		hk := time.FixedZone("HKT", 8*3600)
		at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, hk)
		mustExec(t, d, `INSERT INTO ev (id, at, done_at) VALUES ($1, $2, $3)`, 1, db.Timestamp{Time: at}, sql.Null[db.Timestamp]{})
		mustExec(t, d, `INSERT INTO ev (id, at, done_at) VALUES ($1, $2, $3)`, 2, db.Timestamp{Time: at.Add(time.Microsecond)},
			sql.Null[db.Timestamp]{V: db.Timestamp{Time: at}, Valid: true})

		var got db.Timestamp
		var done sql.Null[db.Timestamp]
		if err := d.QueryRowContext(ctx, `SELECT at, done_at FROM ev WHERE id = $1`, 1).Scan(&got, &done); err != nil {
			t.Fatal(err)
		}
		want := at.Truncate(time.Microsecond).UTC()
		if !got.Time.Equal(want) || got.Location() != time.UTC {
			t.Errorf("read back %v, want %v in UTC", got.Time, want)
		}
		if done.Valid {
			t.Errorf("NULL done_at scanned as %v, want invalid", done.V)
		}
		if err := d.QueryRowContext(ctx, `SELECT done_at FROM ev WHERE id = $1`, 2).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if !done.Valid || !done.V.Equal(want) {
			t.Errorf("done_at = %+v, want %v", done, want)
		}
		// Comparisons in SQL follow time order, to the microsecond.
		if n := queryInt(t, d, `SELECT COUNT(*) FROM ev WHERE at > $1`, db.Timestamp{Time: at}); n != 1 {
			t.Errorf("%d rows after %v, want 1", n, at)
		}
		if err := d.QueryRowContext(ctx, `SELECT done_at FROM ev WHERE id = $1`, 1).Scan(&got); err == nil {
			t.Error("scanning NULL into db.Timestamp succeeded, want an error")
		}
	})
}

func TestKeyRegistrySchema(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := testenv.OpenDB(t, tdb.URL)
		ctx := testCtx(t)
		now := db.Timestamp{Time: time.Now()}
		insert := func(id, role, uri, state string) error {
			_, err := d.ExecContext(ctx, `INSERT INTO hsm_keys (id, role, algorithm, uri, state, created_at, activated_at)
				VALUES ($1, $2, 'ES256', $3, $4, $5, $5)`, id, role, uri, state, now)
			return err
		}
		if err := insert("k1", "oidc-signing", "pkcs11:object=k1", "active"); err != nil {
			t.Fatalf("first active key: %v", err)
		}
		if err := insert("k2", "oidc-signing", "pkcs11:object=k2", "retiring"); err != nil {
			t.Errorf("a retiring key beside the active one: %v", err)
		}
		if err := insert("k3", "tsa", "pkcs11:object=k3", "active"); err != nil {
			t.Errorf("an active key of another role: %v", err)
		}
		uniqueViolations := []struct {
			name string
			err  error
		}{
			{"a second active key for the role", insert("k4", "oidc-signing", "pkcs11:object=k4", "active")},
			{"a key id used twice", insert("k1", "ocsp", "pkcs11:object=k5", "retired")},
			{"a URI used twice", insert("k6", "ocsp", "pkcs11:object=k1", "retired")},
		}
		for _, v := range uniqueViolations {
			if !db.IsUniqueViolation(v.err) {
				t.Errorf("%s: got %v, want a unique violation", v.name, v.err)
			}
		}
		if err := insert("k7", "ocsp", "pkcs11:object=k7", "compromised"); err == nil {
			t.Error("a key in an unknown state was accepted")
		}
		var activatedAt sql.Null[db.Timestamp]
		if err := d.QueryRowContext(ctx, `SELECT activated_at FROM hsm_keys WHERE role = $1 AND state = 'active'`, "oidc-signing").Scan(&activatedAt); err != nil {
			t.Fatal(err)
		}
		if !activatedAt.Valid || !activatedAt.V.Equal(now.Truncate(time.Microsecond)) {
			t.Errorf("activated_at = %+v, want %v", activatedAt, now.Time)
		}
	})
}
