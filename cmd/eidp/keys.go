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

// durationFlag is a time.Duration flag that knows whether it was given.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	f.d, f.set = d, true
	return nil
}

// eidp keys list [--role R] | create --role R [--alg A] | rotate --role R [--alg A] [--now]
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stdout, "Usage: eidp keys list [--role R] | eidp keys create --role R [--alg A] | eidp keys rotate --role R [--alg A] [--now]\n\nRoles: oidc-signing, oidc-signing-rsa, vault-kek, signing-kek, ca-root, ca-residents, tsa, ocsp.\nAlgorithms: EC-P256, EC-P384, RSA-2048, RSA-3072, Ed25519, AES-256 (vault-kek, signing-kek).\nRun `eidp keys list --help` for every setting.")
		if len(args) == 0 {
			return fmt.Errorf("%w: keys needs a subcommand: list, create or rotate", errUsage)
		}
		return nil
	}
	sub, args := args[0], args[1:]
	var (
		roleName, algName         string
		now                       bool
		publishAhead, retainAfter durationFlag
	)
	cfg, _, err := loadConfig("keys "+sub, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&roleName, "role", "", "key role")
		fs.StringVar(&algName, "alg", "", "algorithm (default: the role's default)")
		fs.BoolVar(&now, "now", false, "rotate: emergency rotation; the new key signs at once, the old one stays published for the retain time")
		fs.Var(&publishAhead, "publish-ahead", "rotate: how long the new key is published before it signs (default 1h for oidc-signing, 0 for the other roles)")
		fs.Var(&retainAfter, "retain-after", "rotate: how long the replaced key stays published after the new one signs, at least the longest token lifetime (default 24h for oidc-signing; other roles keep it retiring until an operator acts)")
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
	if sub != "rotate" && (now || publishAhead.set || retainAfter.set) {
		return fmt.Errorf("%w: --now, --publish-ahead and --retain-after are for keys rotate", errUsage)
	}

	log := newLogger(cfg, os.Stderr)
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	var opts []keyring.Option
	if role != "" && (publishAhead.set || retainAfter.set) {
		p := keyring.DefaultPolicy(role)
		if publishAhead.set {
			p.PublishAhead = publishAhead.d
		}
		if retainAfter.set {
			p.RetainAfter = retainAfter.d
		}
		opts = append(opts, keyring.WithPolicy(role, p))
	}
	ring := keyring.New(d, km, opts...)
	// Make the transitions that fell due while no server ran, so the list
	// and a new rotation see the keys as they are.
	if role != "" {
		_, err = ring.Advance(ctx, role)
	} else {
		err = ring.AdvanceAll(ctx)
	}
	if err != nil {
		return err
	}

	switch sub {
	case "create":
		key, err := ring.Create(ctx, role, alg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s key %s (%s) %s\n", role, key.ID, key.Algorithm, key.URI)
		return nil
	case "rotate":
		rotate := ring.Rotate
		if now {
			rotate = ring.RotateNow
		}
		key, err := rotate(ctx, role, alg)
		if err != nil {
			return err
		}
		return printRotation(ctx, stdout, ring, key)
	}
	keys, err := ring.List(ctx, role)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tKID\tALGORITHM\tSTATE\tIN BACKEND\tCREATED\tACTIVATE AT\tRETIRE AT\tURI")
	for _, k := range keys {
		// An operator reading this list wants to know that the registry and
		// the key backend agree.
		present := "yes"
		if _, err := km.Key(ctx, k.URI); errors.Is(err, hsm.ErrKeyNotFound) {
			present = "MISSING"
		} else if err != nil {
			present = "error: " + err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Role, k.ID, k.Algorithm, k.State, present,
			k.CreatedAt.Format(time.RFC3339), timeOrDash(k.ActivateAt), timeOrDash(k.RetireAt), k.URI)
	}
	return tw.Flush()
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// printRotation tells the operator when the new key starts signing and when
// each key it replaces stops being published.
func printRotation(ctx context.Context, w io.Writer, ring *keyring.Keyring, key keyring.Key) error {
	now := ring.Now()
	if key.State == keyring.Next {
		fmt.Fprintf(w, "rotated %s: new key %s (%s) %s is published now and starts signing at %s (in %s)\n",
			key.Role, key.ID, key.Algorithm, key.URI, key.ActivateAt.Format(time.RFC3339), key.ActivateAt.Sub(now).Round(time.Second))
	} else {
		fmt.Fprintf(w, "rotated %s: new key %s (%s) %s signs now\n", key.Role, key.ID, key.Algorithm, key.URI)
	}
	keys, err := ring.List(ctx, key.Role)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == key.ID || (k.State != keyring.Active && k.State != keyring.Retiring) {
			continue
		}
		switch {
		case k.RetireAt.IsZero():
			fmt.Fprintf(w, "previous key %s (%s) stays retiring until an operator retires it\n", k.ID, k.State)
		case k.State == keyring.Active:
			fmt.Fprintf(w, "previous key %s signs until %s and stops being published at %s (in %s)\n",
				k.ID, key.ActivateAt.Format(time.RFC3339), k.RetireAt.Format(time.RFC3339), k.RetireAt.Sub(now).Round(time.Second))
		default:
			fmt.Fprintf(w, "previous key %s (retiring) stops being published at %s (in %s)\n",
				k.ID, k.RetireAt.Format(time.RFC3339), k.RetireAt.Sub(now).Round(time.Second))
		}
	}
	return nil
}
