package db_test

import (
	"context"
	"testing"
	"time"

	"eidp/internal/db"
	"eidp/internal/testenv"
)

// testCtx returns a context that ends with the test, or after a minute.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open opens url without migrating it and closes it when the test ends.
func open(t testing.TB, url string) *db.DB {
	t.Helper()
	d, err := db.Open(testCtx(t), url, db.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// eachEngine runs test once per engine, each on a fresh database.
func eachEngine(t *testing.T, test func(t *testing.T, d testenv.Database)) {
	t.Helper()
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) { test(t, d) })
	}
}

// freshURL returns the URL of a new, empty database on engine.
func freshURL(t testing.TB, engine db.Engine) string {
	t.Helper()
	if engine == db.EnginePostgres {
		return testenv.Postgres(t)
	}
	return testenv.SQLite(t)
}

func mustExec(t testing.TB, d *db.DB, query string, args ...any) {
	t.Helper()
	if _, err := d.ExecContext(testCtx(t), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func queryInt(t testing.TB, d *db.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.QueryRowContext(testCtx(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// tableExists reports whether the table exists, by the engine's catalogue.
func tableExists(t testing.TB, d *db.DB, table string) bool {
	t.Helper()
	query := `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	if d.Engine == db.EngineSQLite {
		query = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	}
	return queryInt(t, d, query, table) == 1
}

// schemaVersions returns the versions recorded in schema_migrations, in order.
func schemaVersions(t testing.TB, d *db.DB) []int {
	t.Helper()
	rows, err := d.QueryContext(testCtx(t), `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// wantVersions1to checks that schema_migrations holds exactly 1…n.
func wantVersions1to(t testing.TB, d *db.DB, n int) {
	t.Helper()
	got := schemaVersions(t, d)
	if len(got) != n {
		t.Fatalf("schema_migrations versions = %v, want 1…%d", got, n)
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("schema_migrations versions = %v, want 1…%d", got, n)
		}
	}
}

func integrityCheck(t testing.TB, d *db.DB) {
	t.Helper()
	if d.Engine != db.EngineSQLite {
		return
	}
	var res string
	if err := d.QueryRowContext(testCtx(t), `PRAGMA integrity_check`).Scan(&res); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if res != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, want ok", res)
	}
}
