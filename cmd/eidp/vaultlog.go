package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"eidp/internal/config"
	"eidp/vault/accesslog"
)

const vaultUsage = `Usage: eidp vault verify-log [--resident ID] | eidp vault rotate-kek [flags]

  verify-log   check the hash chains of the vault access log (every resident's, or one)
  rotate-kek   rotate the vault key-encryption key

Run ` + "`eidp vault verify-log --help`" + ` for every setting.`

// eidp vault <subcommand>: operator actions on the personal-data vault. The
// subcommands live in their own files: verify-log here, rotate-kek in
// vault.go.
func runVault(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, vaultUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: vault needs a subcommand: verify-log or rotate-kek", errUsage)
		}
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "verify-log":
		return runVaultVerifyLog(ctx, rest, stdout, stderr)
	case "rotate-kek":
		return runVaultRotateKEK(ctx, rest, stdout, stderr)
	default:
		return fmt.Errorf("%w: unknown vault subcommand %q: use verify-log or rotate-kek", errUsage, sub)
	}
}

// eidp vault verify-log [--resident ID]: recompute the access log's hash
// chains (vault/accesslog) and report every entry that does not verify.
// It only reads: it does not migrate the database nor need the key backend,
// so it can run against a restored copy.
func runVaultVerifyLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var resident string
	cfg, fs, err := loadConfig("vault verify-log", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&resident, "resident", "", "verify only this resident's chain (the internal resident ID)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: eidp vault verify-log [--resident ID] [flags], not %q", errUsage, fs.Args())
	}
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.CheckSchema(ctx); err != nil {
		return &config.SettingError{Setting: "database_url", Err: err}
	}
	if current, latest, err := d.Status(ctx); err != nil {
		return err
	} else if current < latest {
		return fmt.Errorf("the database schema is at version %d, this binary expects %d: run `eidp migrate` first", current, latest)
	}

	log := accesslog.New(d)
	if resident != "" {
		if err := log.Verify(ctx, resident); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "checked the chain of resident %s: OK\n", resident)
		return nil
	}
	chains, entries, problems, err := log.VerifyAll(ctx)
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		fmt.Fprintf(stdout, "checked %d chains, %d entries: OK\n", chains, entries)
		return nil
	}
	broken := map[string]bool{}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
		broken[p.ResidentID] = true
	}
	return fmt.Errorf("%w: checked %d chains, %d entries: %d problem(s) in %d chain(s)",
		accesslog.ErrTampered, chains, entries, len(problems), len(broken))
}
