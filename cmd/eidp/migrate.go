package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"eidp/internal/config"
	"eidp/internal/db"
)

// eidp migrate [status]: apply pending migrations, or show where the schema is.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, fs, err := loadConfig("migrate", args, stdout, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	rest := fs.Args()
	status := len(rest) == 1 && rest[0] == "status"
	if len(rest) > 0 && !status {
		return fmt.Errorf("%w: eidp migrate [status] [flags], not %q", errUsage, rest)
	}
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if status {
		if err := d.CheckSchema(ctx); err != nil {
			return &config.SettingError{Setting: "database_url", Err: err}
		}
	} else if err := migrateDatabase(ctx, d, log); err != nil {
		return err
	}
	current, latest, err := d.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database: %s (%s)\nschema version: %d (this binary knows up to %d)\n", d.Engine, db.RedactURL(cfg.DatabaseURL), current, latest)
	if status && current < latest {
		fmt.Fprintf(stdout, "%d migration(s) pending: run `eidp migrate`\n", latest-current)
	}
	return nil
}
