// Command loadgen drives a running OAuth 2.0 / OpenID Connect server over
// HTTP on loopback and reports throughput, latency percentiles, failures by
// kind and — given the server's PID — its CPU seconds and memory, so that
// results can be stated per server CPU-second. See bench/loadgen/doc.go for
// how a run is measured and bench/oauth/doc.go for the scenarios.
//
//	go run ./bench/cmd/loadgen -scenario client-credentials \
//	    -issuer http://127.0.0.1:8080 -client-id X -client-secret Y \
//	    -workers 8 -warmup 5s -duration 20s -server-pid $(pidof eidp) -json runs.jsonl
//
// It prints a table, appends one JSON line to -json, and exits 1 when any
// iteration failed (or the target is not loopback without -allow-remote),
// 2 on a usage error.
//
// -print-jwks KEY.pem prints the JWK Set of a private key's public half and
// exits, so that a script can register the private_key_jwt client the
// client-credentials-jwt scenario then signs for with -key KEY.pem:
//
//	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem
//	loadgen -print-jwks key.pem   # {"keys":[{"use":"sig","kty":"EC","kid":"…","crv":"P-256","alg":"ES256",…}]}
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "eidp/bench/eidpflow" // login-flow, vault-release (eidp only)
	"eidp/bench/loadgen"
	_ "eidp/bench/oauth" // client-credentials, client-credentials-jwt, refresh, userinfo, introspection
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		scenario = fs.String("scenario", "", "scenario to run (-list shows them)")
		list     = fs.Bool("list", false, "list the scenarios and exit")
		jwksKey  = fs.String("print-jwks", "", "print the JWK Set (public key, kid = RFC 7638 thumbprint) of this PEM private key and exit, to register a private_key_jwt client")
		jsonPath = fs.String("json", "", "append the result as one JSON line to this file")
		opts     loadgen.Options
	)
	fs.IntVar(&opts.Workers, "workers", 8, "concurrent workers (closed loop: each runs iterations back to back)")
	fs.DurationVar(&opts.WarmUp, "warmup", 5*time.Second, "warm-up, run and checked but not counted")
	fs.DurationVar(&opts.Duration, "duration", 20*time.Second, "measured window (0: until -max)")
	fs.Int64Var(&opts.MaxIterations, "max", 0, "stop after this many measured iterations (0: no bound)")
	fs.Float64Var(&opts.Rate, "rate", 0, "cap on iterations per second across workers (0: as fast as possible)")
	fs.IntVar(&opts.ServerPID, "server-pid", 0, "server process to read CPU time and memory of from /proc (0: none)")
	fs.BoolVar(&opts.AllowNonLoopback, "allow-remote", false, "allow connections to non-loopback addresses")
	loadgen.DefineFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: loadgen -scenario NAME [flags]\n\nscenarios:\n")
		printScenarios(stderr)
		fmt.Fprintf(stderr, "\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *jwksKey != "" {
		if *list || *scenario != "" {
			fmt.Fprintln(stderr, "loadgen: -print-jwks takes no -scenario or -list")
			return 2
		}
		if err := printJWKS(*jwksKey, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	if *list {
		printScenarios(stdout)
		return 0
	}
	if *scenario == "" {
		fmt.Fprintln(stderr, "loadgen: -scenario is required (-list shows them)")
		return 2
	}
	s, err := loadgen.New(*scenario)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}

	res, err := loadgen.Run(ctx, s, opts)
	if c, ok := s.(io.Closer); ok { // e.g. a file login-tokens writes to
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if errors.Is(err, loadgen.ErrOptions) {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err != nil && res.Scenario == "" { // nothing ran
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, res.Table())
	status := 0
	if err != nil {
		fmt.Fprintln(stderr, err)
		status = 1
	}
	if *jsonPath != "" {
		if err := appendJSON(*jsonPath, res); err != nil {
			fmt.Fprintf(stderr, "loadgen: writing %s: %v\n", *jsonPath, err)
			status = 1
		}
	}
	if n := res.Failures(); n > 0 {
		fmt.Fprintf(stderr, "loadgen: FAILED: %d iterations got a response they did not expect (see errors above)\n", n)
		status = 1
	}
	if res.Iterations == 0 && status == 0 {
		fmt.Fprintln(stderr, "loadgen: FAILED: no iteration completed in the measured window")
		status = 1
	}
	return status
}

func printScenarios(w io.Writer) {
	for _, r := range loadgen.Registered() {
		fmt.Fprintf(w, "  %-24s %s\n", r.Name, r.Summary)
	}
}

func appendJSON(path string, res loadgen.Result) error {
	line, err := res.JSON()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
