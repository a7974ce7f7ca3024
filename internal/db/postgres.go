package db

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres returns a pool for the PostgreSQL URL and the password it
// contains, so that the caller can keep it out of error messages.
func openPostgres(rawURL string, connectTimeout time.Duration) (*sql.DB, string, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, "", fmt.Errorf("%w: %s: %w", ErrBadURL, RedactURL(rawURL), err)
	}
	if cfg.ConnectTimeout == 0 { // connect_timeout in the URL wins
		cfg.ConnectTimeout = connectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "eidp"
	}
	return stdlib.OpenDB(*cfg), cfg.Password, nil
}
