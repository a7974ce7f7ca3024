package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"eidp/internal/db"
)

// PostgresURLEnv names the environment variable holding the admin URL of the
// throwaway PostgreSQL cluster, e.g. postgres://postgres@/postgres?host=/tmp/x
// (a superuser, or a role allowed to create databases, over a unix socket).
const PostgresURLEnv = "EIDP_TEST_POSTGRES_URL"

// Database is a fresh, empty database on one engine.
type Database struct {
	Engine db.Engine
	URL    string
}

const notConfigured = "PostgreSQL test cluster not configured: run ./scripts/test"

// Postgres creates a fresh, empty database in the cluster named by
// EIDP_TEST_POSTGRES_URL and returns its URL; the database is dropped, with
// any connection still open to it, when the test ends. If the variable is
// unset the test is skipped, or fails under CI=true.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresURLEnv)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (%s is unset)", notConfigured, PostgresURLEnv)
		}
		t.Skipf("%s (%s is unset)", notConfigured, PostgresURLEnv)
	}
	return createPostgres(t, admin)
}

func createPostgres(t testing.TB, admin string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %s", PostgresURLEnv, db.RedactURL(admin))
	}
	name := "eidp_test_" + randomHex(t, 8)
	// Generated from [a-z0-9_]: safe to splice into SQL as an identifier.
	adminExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		adminExec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})

	u.Path = "/" + name
	q := u.Query()
	if q.Has("dbname") {
		q.Del("dbname")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// adminExec runs one statement over a short-lived admin connection.
func adminExec(t testing.TB, admin, statement string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, admin, db.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("PostgreSQL test cluster (%s): %v", PostgresURLEnv, err)
	}
	defer d.Close()
	if _, err := d.ExecContext(ctx, statement); err != nil {
		t.Fatalf("PostgreSQL test cluster: %s: %v", statement, err)
	}
}

// SQLite returns the URL of a new SQLite database file in the test's temp dir.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "eidp.db")
}

// Databases returns one fresh database per engine, SQLite first, for store
// conformance tests. When PostgreSQL is not configured it returns only the
// SQLite one and logs why (under CI=true it fails the test instead).
func Databases(t testing.TB) []Database {
	t.Helper()
	dbs := []Database{{Engine: db.EngineSQLite, URL: SQLite(t)}}
	admin := os.Getenv(PostgresURLEnv)
	switch {
	case admin != "":
		dbs = append(dbs, Database{Engine: db.EnginePostgres, URL: createPostgres(t, admin)})
	case os.Getenv("CI") == "true":
		t.Fatalf("%s (%s is unset)", notConfigured, PostgresURLEnv)
	default:
		t.Logf("skipping PostgreSQL: %s (%s is unset)", notConfigured, PostgresURLEnv)
	}
	return dbs
}

// OpenDB opens the database at url, applies every migration, and closes it
// when the test ends.
func OpenDB(t testing.TB, url string) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := db.Open(ctx, url, db.Options{})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return d
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
