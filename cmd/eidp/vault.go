package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"eidp/hsm/keyring"
	"eidp/vault"
)

// defaultRewrapBatch is how many data keys one rewrap step handles.
const defaultRewrapBatch = 500

// eidp vault rotate-kek [--batch N] [--rewrap-only]: rotate the vault's
// key-encryption key (the new key wraps new data keys at once; the old one
// stays retiring and still unwraps), then rewrap every data key under the
// new key. Attribute ciphertexts are not touched. It runs beside serving
// nodes, and is resumable: after an interruption, run it again with
// --rewrap-only to continue without rotating once more.
func runVaultRotateKEK(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		batch      int
		rewrapOnly bool
	)
	cfg, fs, err := loadConfig("vault rotate-kek", args, stdout, func(fs *flag.FlagSet) {
		fs.IntVar(&batch, "batch", defaultRewrapBatch, "data keys rewrapped per step")
		fs.BoolVar(&rewrapOnly, "rewrap-only", false, "do not rotate; only rewrap the data keys still wrapped by an older key (to finish an interrupted run)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: eidp vault rotate-kek [--batch N] [--rewrap-only] [flags], not %q", errUsage, fs.Args())
	}
	if batch <= 0 {
		return fmt.Errorf("%w: --batch must be positive, got %d", errUsage, batch)
	}

	log := newLogger(cfg, os.Stderr)
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	ring := keyring.New(d, km)
	if _, err := ring.Advance(ctx, keyring.VaultKEK); err != nil {
		return err
	}

	if !rewrapOnly {
		key, err := ring.RotateNow(ctx, keyring.VaultKEK, keyring.VaultKEK.DefaultAlgorithm())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rotated %s: new key %s (%s) %s wraps data keys now\n", key.Role, key.ID, key.Algorithm, key.URI)
	}
	active, err := ring.Active(ctx, keyring.VaultKEK)
	if err != nil {
		return fmt.Errorf("%w (create one: eidp keys create --role %s)", err, keyring.VaultKEK)
	}

	v := vault.New(d, ring, km, vault.Options{Log: log})
	total, stalled := 0, 0
	for {
		done, remaining, err := v.RewrapKeys(ctx, batch)
		total += done
		if err != nil {
			return fmt.Errorf("%w (%d data keys rewrapped so far; run `eidp vault rotate-kek --rewrap-only` to continue)", err, total)
		}
		fmt.Fprintf(stdout, "rewrapped %d, %d left\n", done, remaining)
		if remaining == 0 {
			break
		}
		// Rows changed by others (rotated, erased, rewrapped by another
		// run) are skipped; stop if nothing moves for a few steps.
		if done > 0 {
			stalled = 0
		} else if stalled++; stalled >= 3 {
			return fmt.Errorf("no progress: %d data keys remain wrapped by an older %s key and none could be rewrapped; see the log", remaining, keyring.VaultKEK)
		}
	}
	fmt.Fprintf(stdout, "every data key is wrapped by %s key %s (%d rewrapped in this run)\n", keyring.VaultKEK, active.ID, total)
	keys, err := ring.List(ctx, keyring.VaultKEK)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.State == keyring.Retiring {
			fmt.Fprintf(stdout, "no data key in this database needs key %s (retiring) any more\n", k.ID)
		}
	}
	return nil
}
