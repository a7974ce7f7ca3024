package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"eidp/internal/config"
)

// exit codes
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the server (the default)", runServe},
		{"migrate", "apply database migrations; `migrate status` shows the schema version", runMigrate},
		{"keys", "list, create or rotate role keys: keys list | keys create --role R | keys rotate --role R", runKeys},
		{"clients", "register and manage OIDC clients: clients create|list|show|update|delete|rotate-secret", runClients},
		{"residents", "operator actions on residents: residents set-level --id-number N --level high", runResidents},
		{"verify", "validate a signed PDF, CMS or JAdES file: verify FILE [--content FILE] [--root root.pem] [--json]", runVerifyDocument},
		{"vault", "the personal-data vault: vault verify-log [--resident ID] | vault rotate-kek", runVault},
		{"ca", "the signing CA: ca init [--ca-organization O --ca-country CC] | ca show [--pem] | ca revoke --id-number N --reason R --actor WHO", runCA},
		{"dev", "development only: dev seed --residents N --key-seed HEX [--vault] (a benchmark population)", runDev},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args, stdout, stderr)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage), errors.Is(err, config.ErrInvalid):
			fmt.Fprintln(stderr, "eidp: "+oneLine(err))
			return exitUsage
		default:
			fmt.Fprintln(stderr, "eidp: "+oneLine(err))
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "eidp: unknown command %q; run `eidp help`\n", name)
	return exitUsage
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "eidp — electronic identity platform\n\nUsage: eidp [command] [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `eidp serve --help` for every setting.")
}

// oneLine keeps a start-up failure to the single line an operator reads first.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// loadConfig parses flags (settings plus the command's own) and loads the
// configuration.
func loadConfig(name string, args []string, stdout io.Writer, extra func(*flag.FlagSet)) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("eidp "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	l := config.NewLoader()
	l.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: eidp %s [flags]\n\n", name)
			fs.SetOutput(stdout)
			if extra != nil {
				fmt.Fprintln(stdout, "Command flags:")
				own := flag.NewFlagSet("", flag.ContinueOnError)
				own.SetOutput(stdout)
				extra(own)
				own.PrintDefaults()
				fmt.Fprintln(stdout)
			}
			config.Usage(stdout)
			return nil, nil, flag.ErrHelp
		}
		return nil, nil, fmt.Errorf("%w: %v (run `eidp %s --help`)", errUsage, err, name)
	}
	cfg, err := l.Load(os.Environ())
	if err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}
