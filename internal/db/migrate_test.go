package db_test

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"eidp/internal/db"
	"eidp/internal/testenv"
	"eidp/migrations"
)

// embedded lists the migrations embedded for engine, from the file names.
func embedded(t testing.TB, engine db.Engine) []db.Migration {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS, string(engine))
	if err != nil {
		t.Fatal(err)
	}
	var migs []db.Migration
	for _, e := range entries {
		var m db.Migration
		name := strings.TrimSuffix(e.Name(), ".sql")
		if _, err := fmt.Sscanf(name, "%04d_", &m.Version); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		m.Name = name[5:]
		migs = append(migs, m)
	}
	return migs
}

func TestBothEnginesHaveTheSameMigrations(t *testing.T) {
	t.Parallel()
	pg, lite := embedded(t, db.EnginePostgres), embedded(t, db.EngineSQLite)
	if len(pg) == 0 {
		t.Fatal("no embedded migrations")
	}
	if !slices.Equal(pg, lite) {
		t.Errorf("postgres migrations %v differ from sqlite migrations %v", pg, lite)
	}
}

func TestMigrateFromEmptyAppliesAllThenNothing(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		ctx := testCtx(t)
		want := embedded(t, tdb.Engine)

		current, latest, err := d.Status(ctx)
		if err != nil || current != 0 || latest != len(want) {
			t.Fatalf("Status on an empty database = (%d, %d, %v), want (0, %d, nil)", current, latest, err, len(want))
		}
		applied, err := d.Migrate(ctx)
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if !slices.Equal(applied, want) {
			t.Errorf("Migrate applied %v, want %v", applied, want)
		}
		current, latest, err = d.Status(ctx)
		if err != nil || current != len(want) || latest != len(want) {
			t.Errorf("Status after Migrate = (%d, %d, %v), want (%d, %d, nil)", current, latest, err, len(want), len(want))
		}
		if err := d.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema: %v", err)
		}

		again, err := d.Migrate(ctx)
		if err != nil || len(again) != 0 {
			t.Errorf("second Migrate = (%v, %v), want nothing applied", again, err)
		}
		wantVersions1to(t, d, len(want))
		for _, m := range want {
			var name string
			if err := d.QueryRowContext(ctx, `SELECT name FROM schema_migrations WHERE version = $1`, m.Version).Scan(&name); err != nil || name != m.Name {
				t.Errorf("schema_migrations name of %d = %q (%v), want %q", m.Version, name, err, m.Name)
			}
		}
	})
}

func TestMigrateRefusesADatabaseNewerThanTheBinary(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := testenv.OpenDB(t, tdb.URL)
		ctx := testCtx(t)
		known := len(embedded(t, tdb.Engine))
		mustExec(t, d, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, known+1, "from_the_future", 0)
		want := fmt.Sprintf("database schema version %d is newer than this binary knows (%d); upgrade eidp", known+1, known)

		applied, err := d.Migrate(ctx)
		if !errors.Is(err, db.ErrSchemaTooNew) || err.Error() != want {
			t.Errorf("Migrate = %v, want ErrSchemaTooNew saying %q", err, want)
		}
		if len(applied) != 0 {
			t.Errorf("Migrate applied %v to a database it refused", applied)
		}
		if err := d.CheckSchema(ctx); !errors.Is(err, db.ErrSchemaTooNew) || err.Error() != want {
			t.Errorf("CheckSchema = %v, want ErrSchemaTooNew saying %q", err, want)
		}
		current, latest, err := d.Status(ctx)
		if err != nil || current != known+1 || latest != known {
			t.Errorf("Status = (%d, %d, %v), want (%d, %d, nil)", current, latest, err, known+1, known)
		}
	})
}

func TestFailingMigrationLeavesNoTrace(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		d := open(t, tdb.URL)
		ctx := testCtx(t)
		fsys := fstest.MapFS{
			"0001_first.sql": {Data: []byte(`CREATE TABLE first (x INTEGER NOT NULL);`)},
			"0002_broken.sql": {Data: []byte(`
				CREATE TABLE partial (x INTEGER NOT NULL);
				INSERT INTO partial (x) VALUES (1);
				INSERT INTO no_such_table (x) VALUES (1);`)},
		}
		applied, err := d.MigrateFS(ctx, fsys)
		if !errors.Is(err, db.ErrMigrationFailed) {
			t.Fatalf("MigrateFS = %v, want ErrMigrationFailed", err)
		}
		if !strings.Contains(err.Error(), "0002_broken.sql") {
			t.Errorf("error %q does not name the failing file", err)
		}
		if want := []db.Migration{{Version: 1, Name: "first"}}; !slices.Equal(applied, want) {
			t.Errorf("applied %v, want %v", applied, want)
		}
		if tableExists(t, d, "partial") {
			t.Error("the failed migration's table exists")
		}
		wantVersions1to(t, d, 1)

		// Fixed, it applies.
		fsys["0002_broken.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE partial (x INTEGER NOT NULL); INSERT INTO partial (x) VALUES (1);`)}
		applied, err = d.MigrateFS(ctx, fsys)
		if want := []db.Migration{{Version: 2, Name: "broken"}}; err != nil || !slices.Equal(applied, want) {
			t.Fatalf("MigrateFS after the fix = (%v, %v), want %v", applied, err, want)
		}
		if n := queryInt(t, d, `SELECT COUNT(*) FROM partial`); n != 1 {
			t.Errorf("partial has %d rows, want 1", n)
		}
		wantVersions1to(t, d, 2)
	})
}

func TestMigrateFSRejectsBadMigrationFiles(t *testing.T) {
	t.Parallel()
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	ok := `CREATE TABLE t (x INTEGER);`
	tests := []struct {
		name      string
		fsys      fstest.MapFS
		wantInMsg string
	}{
		{"a gap in the versions", fstest.MapFS{"0001_a.sql": file(ok), "0003_c.sql": file(ok)}, "version 0002 is missing"},
		{"versions not starting at 1", fstest.MapFS{"0002_b.sql": file(ok)}, "version 0001 is missing"},
		{"the same version twice", fstest.MapFS{"0001_a.sql": file(ok), "0001_b.sql": file(ok)}, "same version"},
		{"a version without four digits", fstest.MapFS{"1_a.sql": file(ok)}, "1_a.sql: name must be NNNN_name.sql"},
		{"a dash instead of an underscore", fstest.MapFS{"0001-a.sql": file(ok)}, "0001-a.sql"},
		{"upper-case letters in the name", fstest.MapFS{"0001_Keys.sql": file(ok)}, "0001_Keys.sql"},
		{"an empty file", fstest.MapFS{"0001_a.sql": file(" \n")}, "0001_a.sql is empty"},
	}
	d := open(t, testenv.SQLite(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			applied, err := d.MigrateFS(testCtx(t), tt.fsys)
			if !errors.Is(err, db.ErrInvalidMigrations) || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("MigrateFS = %v, want ErrInvalidMigrations mentioning %q", err, tt.wantInMsg)
			}
			if len(applied) != 0 {
				t.Errorf("applied %v from an invalid set", applied)
			}
		})
	}
	if tableExists(t, d, "t") || tableExists(t, d, "schema_migrations") {
		t.Error("an invalid migration set changed the database")
	}

	// Other files beside the migrations are ignored.
	applied, err := d.MigrateFS(testCtx(t), fstest.MapFS{"0001_a.sql": file(ok), "README.md": file("notes")})
	if err != nil || len(applied) != 1 {
		t.Errorf("MigrateFS with a README = (%v, %v), want one migration applied", applied, err)
	}
}

// Several nodes starting at once each run Migrate; each migration must be
// applied exactly once.
func TestConcurrentMigratorsApplyEachMigrationOnce(t *testing.T) {
	t.Parallel()
	const migrators = 4
	fsys := fstest.MapFS{
		"0001_log.sql": {Data: []byte(`CREATE TABLE applied_log (version INTEGER NOT NULL); INSERT INTO applied_log (version) VALUES (1);`)},
	}
	for v := 2; v <= 6; v++ {
		fsys[fmt.Sprintf("%04d_step%d.sql", v, v)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			`CREATE TABLE step%d (x INTEGER); INSERT INTO applied_log (version) VALUES (%d);`, v, v))}
	}
	sources := []struct {
		name    string
		migrate func(d *db.DB) ([]db.Migration, error)
		count   func(t testing.TB, engine db.Engine) int
		logged  bool // the migrations record themselves in applied_log
	}{
		{"embedded migrations",
			func(d *db.DB) ([]db.Migration, error) { return d.Migrate(testCtx(t)) },
			func(t testing.TB, engine db.Engine) int { return len(embedded(t, engine)) },
			false},
		{"six test migrations",
			func(d *db.DB) ([]db.Migration, error) { return d.MigrateFS(testCtx(t), fsys) },
			func(testing.TB, db.Engine) int { return len(fsys) },
			true},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			eachEngine(t, func(t *testing.T, tdb testenv.Database) {
				handles := make([]*db.DB, migrators)
				for i := range handles {
					handles[i] = open(t, tdb.URL)
				}
				var (
					wg      sync.WaitGroup
					start   = make(chan struct{})
					applied = make([][]db.Migration, migrators)
					errs    = make([]error, migrators)
				)
				for i, d := range handles {
					wg.Go(func() {
						<-start
						applied[i], errs[i] = src.migrate(d)
					})
				}
				close(start)
				wg.Wait()

				times := map[int]int{}
				for i := range migrators {
					if errs[i] != nil {
						t.Errorf("migrator %d: %v", i, errs[i])
					}
					for _, m := range applied[i] {
						times[m.Version]++
					}
				}
				want := src.count(t, tdb.Engine)
				for v := 1; v <= want; v++ {
					if times[v] != 1 {
						t.Errorf("migration %d reported applied %d times, want once", v, times[v])
					}
				}
				wantVersions1to(t, handles[0], want)
				if src.logged {
					if n := queryInt(t, handles[0], `SELECT COUNT(*) FROM applied_log`); n != int64(want) {
						t.Errorf("applied_log has %d rows, want %d", n, want)
					}
				}
			})
		})
	}
}
