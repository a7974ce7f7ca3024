package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migration identifies one schema migration: the file NNNN_name.sql has
// Version NNNN and Name "name".
type Migration struct {
	Version int
	Name    string
}

// migrationFile is a Migration with where it came from and what it runs.
type migrationFile struct {
	Migration
	file string // for messages, e.g. "migrations/sqlite/0001_keys.sql"
	sql  string
}

// migrationLockKey is the PostgreSQL advisory lock that serialises migrators
// (the bytes of "eidpmigr"); other code must not use it.
const migrationLockKey int64 = 0x6569_6470_6d69_6772

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9][a-z0-9_]*)\.sql$`)

// loadMigrations reads the *.sql files at the root of fsys, checks that they
// are named NNNN_name.sql and numbered 1, 2, 3 … without gaps or duplicates,
// and returns them in order. label prefixes file names in messages. Files
// with other extensions and directories are ignored.
func loadMigrations(fsys fs.FS, label string) ([]migrationFile, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrInvalidMigrations, label, err)
	}
	var migs []migrationFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(strings.ToLower(e.Name()), ".sql") {
			continue
		}
		file := path.Join(label, e.Name())
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%w: %s: name must be NNNN_name.sql (four digits, then lower-case letters, digits and underscores)", ErrInvalidMigrations, file)
		}
		version, _ := strconv.Atoi(m[1]) // four digits: cannot fail
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %w", ErrInvalidMigrations, file, err)
		}
		if strings.TrimSpace(string(body)) == "" {
			return nil, fmt.Errorf("%w: %s is empty", ErrInvalidMigrations, file)
		}
		migs = append(migs, migrationFile{Migration: Migration{Version: version, Name: m[2]}, file: file, sql: string(body)})
	}
	slices.SortFunc(migs, func(a, b migrationFile) int { return a.Version - b.Version })
	for i, m := range migs {
		want := i + 1
		switch {
		case m.Version < want:
			return nil, fmt.Errorf("%w: %s and %s have the same version", ErrInvalidMigrations, migs[i-1].file, m.file)
		case m.Version > want:
			return nil, fmt.Errorf("%w: version %04d is missing before %s (versions start at 0001, without gaps)", ErrInvalidMigrations, want, m.file)
		}
	}
	return migs, nil
}

// schemaTooNewError is ErrSchemaTooNew with the versions involved.
type schemaTooNewError struct{ current, known int }

func (e *schemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary knows (%d); upgrade eidp", e.current, e.known)
}

func (e *schemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

// Migrate applies the embedded migrations of d's engine that the database
// does not have yet, in order, and returns those it applied (none when the
// schema is current). See MigrateFS.
func (d *DB) Migrate(ctx context.Context) ([]Migration, error) {
	return d.migrateFS(ctx, d.migrations, "migrations/"+string(d.Engine))
}

// MigrateFS is Migrate with the migrations taken from the NNNN_name.sql files
// at the root of fsys (not from an engine subdirectory), for tests.
//
// Each migration runs in one transaction together with the insertion of its
// schema_migrations row: it is applied entirely or not at all. Several
// processes may migrate the same database at once: on PostgreSQL each
// migration transaction takes an advisory lock and re-reads the version, on
// SQLite the transaction's write lock serialises them; either way each
// migration is applied once. Errors: ErrInvalidMigrations for bad files,
// ErrSchemaTooNew if the database is ahead of fsys, ErrMigrationFailed naming
// the file whose SQL failed, with the migrations before it applied (and
// returned) and that one not.
func (d *DB) MigrateFS(ctx context.Context, fsys fs.FS) ([]Migration, error) {
	return d.migrateFS(ctx, fsys, ".")
}

func (d *DB) migrateFS(ctx context.Context, fsys fs.FS, label string) ([]Migration, error) {
	migs, err := loadMigrations(fsys, label)
	if err != nil {
		return nil, err
	}
	latest := len(migs)
	if err := d.createSchemaTable(ctx); err != nil {
		return nil, err
	}
	current, err := currentVersion(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	if current > latest {
		return nil, &schemaTooNewError{current: current, known: latest}
	}
	var applied []Migration
	for _, m := range migs[current:] {
		ok, err := d.apply(ctx, m, latest)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.Migration)
		}
	}
	return applied, nil
}

// apply runs one migration unless another migrator got there first, and
// reports whether it ran it.
func (d *DB) apply(ctx context.Context, m migrationFile, latest int) (bool, error) {
	var applied bool
	err := d.inTx(ctx, nil, func(tx *sql.Tx) error {
		applied = false
		if err := d.lockMigrations(ctx, tx); err != nil {
			return err
		}
		current, err := currentVersion(ctx, tx)
		switch {
		case err != nil:
			return err
		case current > latest:
			return &schemaTooNewError{current: current, known: latest}
		case current >= m.Version:
			return nil // applied by a concurrent migrator
		case current != m.Version-1:
			return fmt.Errorf("schema_migrations is at version %d, expected %d", current, m.Version-1)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("record version: %w", err)
		}
		applied = true
		return nil
	})
	switch {
	case err == nil:
		return applied, nil
	case errors.Is(err, ErrSchemaTooNew):
		return false, err
	default:
		return false, fmt.Errorf("%w: %s: %w", ErrMigrationFailed, m.file, err)
	}
}

// lockMigrations serialises migrators on PostgreSQL until tx ends. (On SQLite
// the transaction already holds the database's write lock.)
func (d *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if d.Engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

// createSchemaTable creates schema_migrations if it is missing. Under the
// migration lock, because concurrent CREATE TABLE IF NOT EXISTS can fail on
// PostgreSQL.
func (d *DB) createSchemaTable(ctx context.Context) error {
	ddl := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`
	if d.Engine == EngineSQLite {
		ddl = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`
	}
	err := d.inTx(ctx, nil, func(tx *sql.Tx) error {
		if err := d.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, ddl)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: create schema_migrations: %w", err)
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func currentVersion(ctx context.Context, q querier) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("db: read schema version: %w", err)
	}
	return v, nil
}

// Status returns the database's schema version (0 for an empty database)
// and the latest version among the migrations embedded for its engine.
func (d *DB) Status(ctx context.Context) (current int, latestKnown int, err error) {
	migs, err := loadMigrations(d.migrations, "migrations/"+string(d.Engine))
	if err != nil {
		return 0, 0, err
	}
	exists, err := d.schemaTableExists(ctx)
	if err != nil || !exists {
		return 0, len(migs), err
	}
	current, err = currentVersion(ctx, d.DB)
	return current, len(migs), err
}

// CheckSchema returns an error wrapping ErrSchemaTooNew if the database has
// migrations applied that this binary does not know. A database that is
// behind is not an error here; Migrate brings it up to date.
func (d *DB) CheckSchema(ctx context.Context) error {
	current, latest, err := d.Status(ctx)
	if err != nil {
		return err
	}
	if current > latest {
		return &schemaTooNewError{current: current, known: latest}
	}
	return nil
}

func (d *DB) schemaTableExists(ctx context.Context) (bool, error) {
	query := `SELECT to_regclass('schema_migrations') IS NOT NULL`
	if d.Engine == EngineSQLite {
		query = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`
	}
	var exists bool
	if err := d.QueryRowContext(ctx, query).Scan(&exists); err != nil {
		return false, fmt.Errorf("db: look for schema_migrations: %w", err)
	}
	return exists, nil
}
