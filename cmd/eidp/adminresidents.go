package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"eidp/idp/account"
	"eidp/idp/proofing"
)

// eidp residents set-level --id-number N --level high: an operator records
// attended proofing at a counter (the resident showed the card in person).
func runResidents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "set-level" {
		fmt.Fprintln(stdout, "Usage: eidp residents set-level --id-number A123456(3) --level high|substantial")
		return fmt.Errorf("%w: residents needs a subcommand: set-level", errUsage)
	}
	var idNumber, levelName string
	cfg, _, err := loadConfig("residents set-level", args[1:], stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&idNumber, "id-number", "", "the resident's identity card number")
		fs.StringVar(&levelName, "level", "", "assurance level: substantial or high")
	})
	if err != nil {
		return err
	}
	canonical, err := proofing.NormalizeIDNumber(idNumber)
	if err != nil {
		return fmt.Errorf("%w: --id-number: %w", errUsage, err)
	}
	level, err := proofing.ParseLevel(levelName)
	if err != nil {
		return fmt.Errorf("%w: --level: %w", errUsage, err)
	}
	log := newLogger(cfg, os.Stderr)
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := migrateDatabase(ctx, d, log); err != nil {
		return err
	}
	accounts := account.NewStore(d)
	resident, err := accounts.ByIDNumber(ctx, canonical)
	if err != nil {
		return fmt.Errorf("resident %s: %w", proofing.FormatIDNumber(canonical), err)
	}
	if err := accounts.SetLevel(ctx, resident.ID, string(level)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "resident %s: assurance level %s\n", proofing.FormatIDNumber(canonical), level)
	return nil
}
