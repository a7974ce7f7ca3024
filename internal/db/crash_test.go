package db_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"eidp/internal/db"
	"eidp/internal/testenv"
)

// The crash tests re-run this test binary as a child process that works on a
// database until the parent kills it with SIGKILL, then check what a
// restarted server would find. TestMain turns the child into helperWriter or
// helperMigrator, selected by these variables.
const (
	helperEnv    = "EIDP_DB_CRASH_HELPER" // "writer" or "migrator"
	helperURLEnv = "EIDP_DB_CRASH_URL"
	// helperLifetime bounds a child the parent failed to kill.
	helperLifetime = 2 * time.Minute
)

// child is a helper process and the lines it has printed so far.
type child struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	signal chan string // each line, for waiters; never blocks the reader
	done   chan struct{}
	stderr strings.Builder
}

func startChild(t *testing.T, helper, url string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), helperEnv+"="+helper, helperURLEnv+"="+url)
	c := &child{cmd: cmd, signal: make(chan string, 1<<16), done: make(chan struct{})}
	cmd.Stderr = &c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.read(stdout)
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) read(stdout io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		c.mu.Lock()
		c.lines = append(c.lines, sc.Text())
		c.mu.Unlock()
		select {
		case c.signal <- sc.Text():
		default:
		}
	}
}

// waitFor returns once the child has printed a line for which ok is true.
func (c *child) waitFor(t *testing.T, what string, ok func(line string) bool) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case line := <-c.signal:
			if ok(line) {
				return
			}
		case <-c.done:
			t.Fatalf("child ended before %s; stdout:\n%s\nstderr:\n%s", what, strings.Join(c.output(), "\n"), c.stderr.String())
		case <-timeout:
			t.Fatalf("no %s from the child within a minute", what)
		}
	}
}

// kill sends SIGKILL and waits until the child is gone and its output read.
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.done
	c.cmd.Wait()
}

func (c *child) output() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

// --- killed while writing ---

const crashRowsDDL = `CREATE TABLE crash_rows (id BIGINT NOT NULL PRIMARY KEY, payload TEXT NOT NULL)`

// helperWriter is the child of TestKilledWriterLosesNothingAcknowledged:
// four goroutines insert rows, each in its own InTx, and print "ack ID" once
// the commit returned.
func helperWriter() {
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	defer cancel()
	d, err := db.Open(ctx, os.Getenv(helperURLEnv), db.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	var (
		out sync.Mutex
		wg  sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := int64(g)*1_000_000 + int64(i)
				err := d.InTx(ctx, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO crash_rows (id, payload) VALUES ($1, $2)`,
						id, strings.Repeat("x", 200))
					return err
				})
				if err != nil {
					if ctx.Err() == nil {
						fmt.Println("error:", err)
						os.Exit(2)
					}
					return
				}
				out.Lock()
				fmt.Printf("ack %d\n", id)
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestKilledWriterLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	t.Parallel()
	eachEngine(t, func(t *testing.T, tdb testenv.Database) {
		ctx := testCtx(t)
		setup, err := db.Open(ctx, tdb.URL, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := setup.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		mustExec(t, setup, crashRowsDDL)
		setup.Close()

		const enough = 500
		c := startChild(t, "writer", tdb.URL)
		acks := 0
		c.waitFor(t, fmt.Sprintf("%d acknowledged rows", enough), func(line string) bool {
			if strings.HasPrefix(line, "ack ") {
				acks++
			}
			return acks >= enough
		})
		c.kill()

		var acked []int64
		for _, line := range c.output() {
			idText, ok := strings.CutPrefix(line, "ack ")
			if !ok {
				continue
			}
			id, err := strconv.ParseInt(idText, 10, 64)
			if err != nil {
				t.Fatalf("child printed %q", line)
			}
			acked = append(acked, id)
		}

		d := open(t, tdb.URL)
		integrityCheck(t, d)
		applied, err := d.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Errorf("Migrate after the crash = (%v, %v), want nothing to do", applied, err)
		}
		current, latest, err := d.Status(ctx)
		if err != nil || current != latest {
			t.Errorf("Status after the crash = (%d, %d, %v), want current = latest", current, latest, err)
		}
		wantVersions1to(t, d, latest)

		rows, err := d.QueryContext(ctx, `SELECT id FROM crash_rows`)
		if err != nil {
			t.Fatal(err)
		}
		present := map[int64]bool{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			present[id] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		lost := 0
		for _, id := range acked {
			if !present[id] {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("%d of %d acknowledged rows are missing after the crash", lost, len(acked))
		}
		t.Logf("%d rows acknowledged before SIGKILL, %d found", len(acked), len(present))
	})
}

// --- killed while migrating ---

const slowRows = 100_000

// slowMigrations returns a base migration and a second one that takes long
// enough (hundreds of thousands of rows in one transaction) to be killed in
// the middle.
func slowMigrations(withSecond bool) fstest.MapFS {
	fsys := fstest.MapFS{
		"0001_base.sql": {Data: []byte(`CREATE TABLE base (x INTEGER NOT NULL);`)},
	}
	if withSecond {
		fsys["0002_slow.sql"] = &fstest.MapFile{Data: []byte(fmt.Sprintf(`
			CREATE TABLE slow (n BIGINT NOT NULL PRIMARY KEY, pad TEXT NOT NULL);
			WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %d)
			INSERT INTO slow (n, pad) SELECT n, 'padding padding padding padding padding' FROM seq;
			CREATE INDEX slow_pad ON slow (pad, n);`, slowRows))}
	}
	return fsys
}

// helperMigrator is the child of TestKilledMigrationIsAllOrNothing: it
// applies migration 1, prints "start 2", applies migration 2 and prints
// "done 2".
func helperMigrator() {
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	defer cancel()
	d, err := db.Open(ctx, os.Getenv(helperURLEnv), db.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	if _, err := d.MigrateFS(ctx, slowMigrations(false)); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("start 2")
	if _, err := d.MigrateFS(ctx, slowMigrations(true)); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("done 2")
	<-ctx.Done()
}

func TestKilledMigrationIsAllOrNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	t.Parallel()
	engines := []db.Engine{db.EngineSQLite}
	if os.Getenv(testenv.PostgresURLEnv) != "" || os.Getenv("CI") == "true" {
		engines = append(engines, db.EnginePostgres)
	}
	for _, engine := range engines {
		t.Run(string(engine), func(t *testing.T) {
			interrupted := 0
			for _, delay := range []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond} {
				url := freshURL(t, engine)
				c := startChild(t, "migrator", url)
				c.waitFor(t, `"start 2"`, func(line string) bool { return line == "start 2" })
				time.Sleep(delay)
				c.kill()

				d := open(t, url)
				ctx := testCtx(t)
				integrityCheck(t, d)
				versions := schemaVersions(t, d)
				switch {
				case slices.Equal(versions, []int{1}):
					interrupted++
					if tableExists(t, d, "slow") {
						t.Errorf("killed %v into migration 2: version 1 but table slow exists", delay)
					}
				case slices.Equal(versions, []int{1, 2}):
					if n := queryInt(t, d, `SELECT COUNT(*) FROM slow`); n != slowRows {
						t.Errorf("killed %v into migration 2: version 2 with %d rows, want %d", delay, n, slowRows)
					}
				default:
					t.Fatalf("killed %v into migration 2: schema_migrations versions %v, want [1] or [1 2]", delay, versions)
				}

				// A restart completes the migration.
				applied, err := d.MigrateFS(ctx, slowMigrations(true))
				if err != nil {
					t.Fatalf("MigrateFS after the crash: %v", err)
				}
				if wantApplied := len(versions) == 1; wantApplied != (len(applied) == 1) {
					t.Errorf("MigrateFS after the crash applied %v, database was at %v", applied, versions)
				}
				if n := queryInt(t, d, `SELECT COUNT(*) FROM slow`); n != slowRows {
					t.Errorf("after re-migrating: %d rows, want %d", n, slowRows)
				}
				wantVersions1to(t, d, 2)
				d.Close()
			}
			if interrupted == 0 {
				t.Errorf("no SIGKILL landed inside migration 2; the test proves nothing: make it slower")
			}
			t.Logf("%d of 3 kills landed inside migration 2", interrupted)
		})
	}
}

// TestMain runs this test binary as a crash-test child when the parent asks
// for one (so the children are not tests that would show as skipped).
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "writer":
		helperWriter()
		os.Exit(0)
	case "migrator":
		helperMigrator()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
