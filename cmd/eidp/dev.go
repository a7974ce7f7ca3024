package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"eidp/bench/seed"
	"eidp/bench/seed/population"
	"eidp/hsm/keyring"
	"eidp/idp/client"
	"eidp/signing/ca"
	"eidp/vault"
	"eidp/vault/attr"
)

const devUsage = `Usage: eidp dev seed --residents N --key-seed HEX [--client-id ID] [--vault] [--certificates] [--batch N] [--workers N] [flags]

Development only (refused with env=production). "dev seed" creates residents
0 … N-1 of a benchmark population (bench/seed): ID numbers Z000000(c) … , each
with a passkey derived from the key seed, a remembered consent for the client
and, with --vault, five vault attributes. With --certificates each resident is
raised to assurance level high and issued a signing certificate by the CA (as
enrolment would, without its passkey check), and the consent also covers scope
"service"; the time the issuance took is printed. Residents that exist are
skipped, so a second run with a larger N extends the population. The client is
created (its secret printed once) or, if it is the bench client, updated; any
other existing client is used as it is. The load generator's login-flow,
vault-release, sign-hash and pades scenarios take the same key seed and N.
Run "eidp dev seed --help" for every setting.`

// eidp dev seed: a seeded population for the load generator (bench/seed).
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, devUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: dev needs a subcommand: seed", errUsage)
		}
		return nil
	}
	if args[0] != "seed" {
		return fmt.Errorf("%w: unknown dev subcommand %q: use seed", errUsage, args[0])
	}
	var (
		residents, batch int
		workers          int
		keySeedHex       string
		clientID         string
		withVault        bool
		withCerts        bool
	)
	cfg, fs, err := loadConfig("dev seed", args[1:], stdout, func(fs *flag.FlagSet) {
		fs.IntVar(&residents, "residents", 0, "size of the population: residents 0 … N-1")
		fs.StringVar(&keySeedHex, "key-seed", "", "hex key seed (16+ bytes, e.g. `openssl rand -hex 32`) the passkeys and account IDs derive from; the load generator needs the same")
		fs.StringVar(&clientID, "client-id", "eidp-bench", "the client the residents consent to (created as the bench client if missing)")
		fs.BoolVar(&withVault, "vault", false, "also store five vault attributes per resident and consent to their scopes")
		fs.BoolVar(&withCerts, "certificates", false, "also raise each resident to assurance level high, issue each a signing certificate and consent to scope service")
		fs.IntVar(&batch, "batch", seed.DefaultBatchSize, "residents written per transaction")
		fs.IntVar(&workers, "workers", seed.DefaultWorkers, "consents, vault attributes and certificates written at once")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: dev seed: unexpected arguments %q", errUsage, fs.Args())
	}
	if cfg.Production() {
		return fmt.Errorf("%w: eidp dev seed is for development and benchmarks only; refused with env=production", errUsage)
	}
	keySeed, err := population.ParseKeySeed(keySeedHex)
	if err != nil {
		return fmt.Errorf("%w: --key-seed: %w", errUsage, err)
	}
	if residents < 1 || residents > seed.MaxResidents {
		return fmt.Errorf("%w: --residents must be 1 to %d", errUsage, seed.MaxResidents)
	}
	if batch < 1 {
		return fmt.Errorf("%w: --batch must be positive", errUsage)
	}
	if workers < 1 {
		return fmt.Errorf("%w: --workers must be positive", errUsage)
	}

	log := newLogger(cfg, os.Stderr)
	d, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	deps := seed.Deps{DB: d}
	if withVault || withCerts {
		km, err := openKeys(ctx, cfg, log, nil)
		if err != nil {
			return err
		}
		defer km.Close()
		if err := migrateDatabase(ctx, d, log); err != nil {
			return err
		}
		ring := keyring.New(d, km)
		if withVault {
			if _, _, err := ring.Ensure(ctx, keyring.VaultKEK); err != nil {
				return fmt.Errorf("vault key-encryption key: %w", err)
			}
			deps.Vault = vault.New(d, ring, km, vault.Options{SchemaVersion: attr.SchemaVersion, Log: log})
		}
		if withCerts {
			// The CA `eidp serve` runs (signingServices): same configuration,
			// hierarchy created here if this is the first start.
			authority, err := ca.New(d, ring, km, caConfig(cfg), ca.WithLogger(log))
			if err != nil {
				return err
			}
			if _, err := authority.Init(ctx); err != nil {
				return fmt.Errorf("CA: %w", err)
			}
			deps.CA = authority
		}
	} else if err := migrateDatabase(ctx, d, log); err != nil {
		return err
	}

	c, secret, created, err := seed.EnsureClient(ctx, client.NewStore(d, client.Options{Production: cfg.Production()}), clientID)
	if err != nil {
		return err
	}
	switch {
	case created:
		fmt.Fprintf(stdout, "created client %s\nclient_secret: %s\n", c.ClientID, secret)
		warnSecretShownOnce(stderr, c.ClientID, false)
	case c.ClientName == seed.BenchClientName:
		fmt.Fprintf(stdout, "updated bench client %s (its secret is unchanged)\n", c.ClientID)
	default:
		fmt.Fprintf(stdout, "using client %s as it is\n", c.ClientID)
	}

	res, err := seed.Run(ctx, deps, seed.Options{
		Residents: residents, KeySeed: keySeed, ClientID: c.ClientID, Vault: withVault, Certificates: withCerts, BatchSize: batch, Workers: workers,
		Progress: func(p seed.Progress) {
			if withCerts {
				fmt.Fprintf(stdout, "residents %d/%d, %d certificates issued (%s)\n", p.Done, p.Total, p.Certificates, p.Elapsed.Round(time.Millisecond))
				return
			}
			fmt.Fprintf(stdout, "residents %d/%d (%s)\n", p.Done, p.Total, p.Elapsed.Round(time.Millisecond))
		},
	})
	if err != nil {
		if errors.Is(err, seed.ErrOptions) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return err
	}
	fmt.Fprintf(stdout, "done: %d residents created, %d already there; %d passkeys, %d consents, %d vault attributes written\n",
		res.Created, res.Existing, res.Credentials, res.Consents, res.Attributes)
	if withCerts {
		fmt.Fprintf(stdout, "certificates: %d issued in %s", res.Certificates, res.IssueTime.Round(time.Millisecond))
		if res.Certificates > 0 && res.IssueTime > 0 {
			fmt.Fprintf(stdout, " (%.1f/s, %d at once, key backend %s)", float64(res.Certificates)/res.IssueTime.Seconds(), workers, cfg.KeyBackend)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
