package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"time"

	"eidp/migrations"
)

// Engine names a database engine. Its value is also the name of the engine's
// directory in migrations/.
type Engine string

// The engines eidp runs on.
const (
	EngineSQLite   Engine = "sqlite"
	EnginePostgres Engine = "postgres"
)

// Errors at the package boundary; match them with errors.Is.
var (
	// ErrBadURL: the database URL is neither "sqlite:PATH" nor
	// "postgres://…" / "postgresql://…", or cannot be parsed.
	ErrBadURL = errors.New("db: bad database URL")
	// ErrUnreachable: the database could not be opened or did not answer a
	// ping within the connect timeout. The wrapped cause says why.
	ErrUnreachable = errors.New("db: database unreachable")
	// ErrSchemaTooNew: the database has migrations applied that this binary
	// does not know; a newer eidp has run against it.
	ErrSchemaTooNew = errors.New("db: database schema is newer than this binary")
	// ErrMigrationFailed: a migration's SQL failed; the database is left as
	// it was before that migration.
	ErrMigrationFailed = errors.New("db: migration failed")
	// ErrInvalidMigrations: the migration files themselves are wrong (a
	// malformed name, a duplicate or missing version). A programming error.
	ErrInvalidMigrations = errors.New("db: invalid migration files")
)

// Options tunes the connection pool and the connect timeout. A zero field
// means the engine's default:
//
//	                 SQLite                  PostgreSQL
//	MaxOpenConns     max(4, GOMAXPROCS)      max(10, 4×GOMAXPROCS)
//	MaxIdleConns     = MaxOpenConns          = MaxOpenConns
//	ConnMaxLifetime  unlimited               30 min
//	ConnMaxIdleTime  unlimited               5 min
//	ConnectTimeout   5 s                     5 s
//
// SQLite has one writer at a time, so more connections than cores only add
// waiters; its connections are cheap to keep and never go stale, so they are
// kept forever. PostgreSQL connections are kept warm (idle = open, so a burst
// does not pay for new connections) but recycled every 30 minutes so that a
// fail-over or a load balancer change spreads them again; the server's
// max_connections (100 by default) is shared by all eidp nodes.
type Options struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	ConnMaxIdleTime time.Duration
	// ConnectTimeout bounds each connection attempt and the ping in Open.
	ConnectTimeout time.Duration
}

const defaultConnectTimeout = 5 * time.Second

// DB is an open database: the pool, the engine it talks to, and the
// migrations embedded for that engine. Use the embedded *sql.DB for queries
// and InTx for transactions.
type DB struct {
	*sql.DB
	Engine Engine

	migrations fs.FS // the embedded migrations of Engine
	retry      retryPolicy
	// writer, on SQLite, is held by the one write of this process that may
	// run (see writeTurn); nil on PostgreSQL.
	writer chan struct{}
}

// Open opens and pings the database named by rawURL:
//
//	sqlite:PATH                  a file, relative or absolute; its directory is created (0700)
//	postgres://USER@HOST/DB?…    or postgresql://…, any URL pgx accepts
//
// SQLite's ":memory:" is refused: every pooled connection would get its own
// empty database, and nothing in it would survive the process, which breaks
// both correctness and the promise that what was acknowledged is durable. Use
// a file (in tests, in t.TempDir()).
//
// Open does not migrate; call Migrate (or CheckSchema) next. Errors wrap
// ErrBadURL or ErrUnreachable and never contain the URL's password.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	engine, target, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = defaultConnectTimeout
	}

	var (
		sqlDB  *sql.DB
		secret string // the password, scrubbed from error text
	)
	switch engine {
	case EngineSQLite:
		sqlDB, err = openSQLite(target)
	case EnginePostgres:
		sqlDB, secret, err = openPostgres(target, opts.ConnectTimeout)
	}
	if err != nil {
		return nil, scrub(err, secret)
	}
	applyPoolOptions(sqlDB, engine, opts)

	pingCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, RedactURL(rawURL), scrub(err, secret))
	}
	if engine == EngineSQLite {
		if err := checkSQLitePragmas(pingCtx, sqlDB); err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, rawURL, err)
		}
	}

	migs, err := fs.Sub(migrations.FS, string(engine))
	if err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("db: embedded migrations for %s: %w", engine, err)
	}
	d := &DB{
		DB:         sqlDB,
		Engine:     engine,
		migrations: migs,
		retry:      defaultRetryPolicy,
	}
	if engine == EngineSQLite {
		d.writer = make(chan struct{}, 1)
	}
	return d, nil
}

// parseURL splits rawURL into its engine and what that engine's opener needs:
// a file path for SQLite, the URL itself for PostgreSQL.
func parseURL(rawURL string) (Engine, string, error) {
	const want = `want "sqlite:PATH" or "postgres://USER@HOST/DB" (also "postgresql://…")`
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(rawURL, "sqlite:")
		switch {
		case path == "":
			return "", "", fmt.Errorf("%w: %q has no file path; %s", ErrBadURL, rawURL, want)
		case path == ":memory:":
			return "", "", fmt.Errorf("%w: %q: in-memory SQLite is not supported: each pooled connection would see its own empty database and nothing would be durable; use a file", ErrBadURL, rawURL)
		case strings.HasPrefix(path, "//"):
			return "", "", fmt.Errorf("%w: %q: write sqlite:/absolute/path or sqlite:relative/path, without \"//\"", ErrBadURL, rawURL)
		}
		return EngineSQLite, path, nil
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		if _, err := url.Parse(rawURL); err != nil {
			// url.Error repeats the URL, password included; keep only the reason.
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return "", "", fmt.Errorf("%w: %s: %w", ErrBadURL, RedactURL(rawURL), err)
		}
		return EnginePostgres, rawURL, nil
	default:
		return "", "", fmt.Errorf("%w: %q: %s", ErrBadURL, RedactURL(rawURL), want)
	}
}

// poolDefaults returns the defaults documented on Options.
func poolDefaults(engine Engine) Options {
	procs := runtime.GOMAXPROCS(0)
	if engine == EngineSQLite {
		return Options{MaxOpenConns: max(4, procs)}
	}
	return Options{
		MaxOpenConns:    max(10, 4*procs),
		ConnMaxLifetime: 30 * time.Minute,
		ConnMaxIdleTime: 5 * time.Minute,
	}
}

func applyPoolOptions(d *sql.DB, engine Engine, opts Options) {
	def := poolDefaults(engine)
	pick := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	pickDur := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	maxOpen := pick(opts.MaxOpenConns, def.MaxOpenConns)
	d.SetMaxOpenConns(maxOpen)
	d.SetMaxIdleConns(pick(opts.MaxIdleConns, maxOpen))
	d.SetConnMaxLifetime(pickDur(opts.ConnMaxLifetime, def.ConnMaxLifetime))
	d.SetConnMaxIdleTime(pickDur(opts.ConnMaxIdleTime, def.ConnMaxIdleTime))
}

const redacted = "xxxxx"

var (
	// userinfoPassword matches the password of scheme://user:password@ in
	// text that does not parse as a URL.
	userinfoPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
	// passwordParam matches password=… (and sslpassword=…) in a query or a
	// key=value connection string.
	passwordParam = regexp.MustCompile(`(?i)(password=)[^&\s]*`)
)

// RedactURL returns rawURL with any password replaced by "xxxxx", for logs
// and error messages. It handles a password in the userinfo part and in a
// password= (or sslpassword=) query parameter, and is best effort on text
// that does not parse as a URL.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		s := userinfoPassword.ReplaceAllString(rawURL, "${1}"+redacted+"@")
		return passwordParam.ReplaceAllString(s, "${1}"+redacted)
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	// Rewritten in place rather than re-encoded, to keep the rest as written.
	u.RawQuery = passwordParam.ReplaceAllString(u.RawQuery, "${1}"+redacted)
	return u.String()
}

// scrubbedError hides a secret that a driver's error text might contain,
// while keeping the cause reachable for errors.Is and errors.As.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

func scrub(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, secret) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(msg, secret, redacted), cause: err}
}
