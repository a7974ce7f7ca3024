package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"eidp/hsm"
	"eidp/hsm/keyring"
)

// eidp keys list [--role R] | create --role R [--alg A] | rotate --role R [--alg A]
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "Usage: eidp keys list [--role R] | eidp keys create --role R [--alg A] | eidp keys rotate --role R [--alg A]\n\nRoles: oidc-signing, vault-kek, ca-root, ca-residents, tsa, ocsp.\nAlgorithms: EC-P256, EC-P384, RSA-2048, RSA-3072, Ed25519, AES-256 (vault-kek).\nRun `eidp keys list --help` for every setting.")
		if len(args) == 0 {
			return fmt.Errorf("%w: keys needs a subcommand: list, create or rotate", errUsage)
		}
		return nil
	}
	sub, args := args[0], args[1:]
	var roleName, algName string
	cfg, _, err := loadConfig("keys "+sub, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&roleName, "role", "", "key role")
		fs.StringVar(&algName, "alg", "", "algorithm (default: the role's default)")
	})
	if err != nil {
		return err
	}
	var role keyring.Role
	if roleName != "" {
		if role, err = keyring.ParseRole(roleName); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	var alg hsm.Algorithm
	if algName != "" {
		if alg, err = hsm.ParseAlgorithm(algName); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	switch sub {
	case "list":
	case "create", "rotate":
		if role == "" {
			return fmt.Errorf("%w: keys %s needs --role", errUsage, sub)
		}
		if alg == "" {
			alg = role.DefaultAlgorithm()
		}
	default:
		return fmt.Errorf("%w: unknown keys subcommand %q: use list, create or rotate", errUsage, sub)
	}

	log := newLogger(cfg, os.Stderr)
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	km, err := openKeys(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer km.Close()
	if err := migrateDatabase(ctx, d, log); err != nil {
		return err
	}
	ring := keyring.New(d, km)

	switch sub {
	case "create":
		key, err := ring.Create(ctx, role, alg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s key %s (%s) %s\n", role, key.ID, key.Algorithm, key.URI)
		return nil
	case "rotate":
		key, err := ring.Rotate(ctx, role, alg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rotated %s: new active key %s (%s) %s; the previous key is retiring\n", role, key.ID, key.Algorithm, key.URI)
		return nil
	}
	keys, err := ring.List(ctx, role)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tKID\tALGORITHM\tSTATE\tIN BACKEND\tCREATED\tURI")
	for _, k := range keys {
		// An operator reading this list wants to know that the registry and
		// the key backend agree.
		present := "yes"
		if _, err := km.Key(ctx, k.URI); errors.Is(err, hsm.ErrKeyNotFound) {
			present = "MISSING"
		} else if err != nil {
			present = "error: " + err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Role, k.ID, k.Algorithm, k.State, present, k.CreatedAt.Format(time.RFC3339), k.URI)
	}
	return tw.Flush()
}
