package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"eidp/hsm/keyring"
	"eidp/signing/ca"
)

const caUsage = `Usage: eidp ca init [--ca-organization O] [--ca-country CC] [--ca-cps-uri URL] | eidp ca show [--pem]
       eidp ca revoke --id-number N --reason R --actor WHO

  init  create what is missing of the signing CA: its keys, the root and
        "Residents" CA certificates, the TSA and OCSP responder certificates
        and the CRLs; renew the OCSP responder certificate when it expires
        within 30 days. Running it again changes nothing else.
  show  print each CA certificate: subject, serial, validity, SHA-256
        fingerprint, key and URLs (--pem: the certificates too).
  revoke revoke a resident's signing certificates (reason as RFC 5280
        names it: keyCompromise, cessationOfOperation, …); their keys are
        destroyed and the CRL and OCSP say "revoked" at once.

URLs in certificates are built from the issuer setting (EIDP_ISSUER); the subject names and CPS
from ca_organization, ca_country and ca_cps_uri, which the server reads too (set them alike).
Run ` + "`eidp ca init --help`" + ` for every setting.`

// eidp ca init | show
func runCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, caUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: ca needs a subcommand: init, show or revoke", errUsage)
		}
		return nil
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "init":
		return runCAInit(ctx, rest, stdout)
	case "show":
		return runCAShow(ctx, rest, stdout)
	case "revoke":
		return runCARevoke(ctx, rest, stdout)
	default:
		return fmt.Errorf("%w: unknown ca subcommand %q: use init, show or revoke", errUsage, sub)
	}
}

// caOptions are the CA's own flags. Its subject names and CPS are the
// settings ca_organization, ca_country and ca_cps_uri, which the server
// reads too (flags --ca-organization …, or EIDP_CA_…).
type caOptions struct {
	pem bool
}

func (o *caOptions) register(fs *flag.FlagSet, show bool) {
	if show {
		fs.BoolVar(&o.pem, "pem", false, "also print the certificates in PEM")
	}
}

// openCA opens the database, the key backend and the CA.
func openCA(ctx context.Context, name string, args []string, stdout io.Writer, show bool) (*ca.Authority, *caOptions, func(), error) {
	var opts caOptions
	cfg, fs, err := loadConfig(name, args, stdout, func(fs *flag.FlagSet) { opts.register(fs, show) })
	if err != nil {
		return nil, nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, nil, fmt.Errorf("%w: eidp %s takes no arguments, not %q", errUsage, name, fs.Args())
	}
	caCfg := caConfig(cfg)
	// Check the flags before opening anything.
	if _, err := ca.New(nil, nil, nil, caCfg); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	log := newLogger(cfg, os.Stderr)
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := ca.New(d, keyring.New(d, km), km, caCfg, ca.WithLogger(log))
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return a, &opts, closeAll, nil
}

func runCAInit(ctx context.Context, args []string, stdout io.Writer) error {
	a, _, closeAll, err := openCA(ctx, "ca init", args, stdout, false)
	if err != nil {
		return err
	}
	defer closeAll()
	before, err := a.Hierarchy(ctx)
	if err != nil && !errors.Is(err, ca.ErrNotInitialised) {
		return err
	}
	after, err := a.Init(ctx)
	if err != nil {
		return err
	}
	var changed []string
	for _, c := range []struct {
		name          string
		before, after *x509.Certificate
	}{{"root", before.Root, after.Root}, {"issuing", before.Issuing, after.Issuing}, {"tsa", before.TSA, after.TSA}, {"ocsp", before.OCSP, after.OCSP}} {
		switch {
		case c.before == nil:
			changed = append(changed, "created the "+c.name+" certificate")
		case !c.before.Equal(c.after):
			changed = append(changed, "renewed the "+c.name+" certificate")
		}
	}
	if len(changed) == 0 {
		fmt.Fprintln(stdout, "the CA is already initialised; nothing changed")
	}
	for _, line := range changed {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintln(stdout)
	return printCA(ctx, a, stdout, false)
}

func runCAShow(ctx context.Context, args []string, stdout io.Writer) error {
	a, opts, closeAll, err := openCA(ctx, "ca show", args, stdout, true)
	if err != nil {
		return err
	}
	defer closeAll()
	return printCA(ctx, a, stdout, opts.pem)
}

var caTitles = map[string]string{
	ca.KindRoot:    "Root CA",
	ca.KindIssuing: "Issuing CA (Residents)",
	ca.KindTSA:     "Time-stamping authority",
	ca.KindOCSP:    "OCSP responder",
}

func printCA(ctx context.Context, a *ca.Authority, w io.Writer, withPEM bool) error {
	certs, err := a.Details(ctx)
	if err != nil {
		return err
	}
	base := a.Config().BaseURL
	for _, c := range certs {
		sum := sha256.Sum256(c.Cert.Raw)
		fmt.Fprintf(w, "%s\n", caTitles[c.Kind])
		fmt.Fprintf(w, "  subject:      %s\n", c.Cert.Subject)
		fmt.Fprintf(w, "  issuer:       %s\n", c.Cert.Issuer)
		fmt.Fprintf(w, "  serial:       %s\n", hex.EncodeToString(c.Cert.SerialNumber.Bytes()))
		fmt.Fprintf(w, "  valid:        %s to %s\n", c.Cert.NotBefore.UTC().Format(time.RFC3339), c.Cert.NotAfter.UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "  sha256:       %s\n", strings.ToUpper(hex.EncodeToString(sum[:])))
		fmt.Fprintf(w, "  key:          %s (hsm key %s)\n", c.KeyURI, c.KeyID)
		for _, u := range c.Cert.IssuingCertificateURL {
			fmt.Fprintf(w, "  ca issuers:   %s\n", u)
		}
		for _, u := range c.Cert.OCSPServer {
			fmt.Fprintf(w, "  ocsp:         %s\n", u)
		}
		for _, u := range c.Cert.CRLDistributionPoints {
			fmt.Fprintf(w, "  crl:          %s\n", u)
		}
		switch c.Kind {
		case ca.KindRoot:
			fmt.Fprintf(w, "  download:     %s\n  its crl:      %s\n", base+ca.PathRootCert, base+ca.PathRootCRL)
		case ca.KindIssuing:
			fmt.Fprintf(w, "  download:     %s\n  its crl:      %s\n  its ocsp:     %s\n", base+ca.PathIssuingCert, base+ca.PathIssuingCRL, base+ca.PathOCSP)
		}
		if withPEM {
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
		}
		fmt.Fprintln(w)
	}
	return nil
}
