package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"eidp/hsm/keyring"
	"eidp/internal/config"
	"eidp/signing/ca"
	"eidp/signing/verify"
)

// maxVerifyInput bounds a signature or JSON document read whole (a PDF is
// read in place, within the pdf package's own limit).
const maxVerifyInput = 64 << 20

// runVerifyDocument is `eidp verify FILE [--content FILE] [--root root.pem]
// [--json]`: it validates a signed PDF, CMS or JAdES file and prints the
// report. With --root it trusts the certificates of that PEM file and asks
// each signer's OCSP responder (from the certificate's AIA), or reports the
// status "unknown"; without it, it trusts the configured CA and reads
// statuses from its database. The exit code is 0 for TOTAL_PASSED, 1
// otherwise.
func runVerifyDocument(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var contentFile, rootFile string
	var asJSON bool
	own := func(fs *flag.FlagSet) {
		fs.StringVar(&contentFile, "content", "", "the signed content, for a detached CMS or JAdES signature")
		fs.StringVar(&rootFile, "root", "", "PEM file of trusted root certificates; statuses over OCSP. Without it: the configured CA")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	}
	args, files, err := flagsFirst(args, own)
	if err != nil {
		return err
	}
	cfg, _, err := loadConfig("verify", append(args, files...), stdout, own)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return fmt.Errorf("%w: name one signed file: eidp verify FILE [--content FILE] [--root root.pem] [--json]", errUsage)
	}

	v := &verify.Verifier{}
	if rootFile != "" {
		roots, err := readRoots(rootFile)
		if err != nil {
			return err
		}
		v.Roots, v.Status = roots, &verify.OCSP{}
	} else {
		closeCA, err := trustConfiguredCA(ctx, cfg, v)
		if err != nil {
			return err
		}
		defer closeCA()
	}

	rep, err := verifyFile(ctx, v, files[0], contentFile)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(stdout, files[0], rep)
	}
	if rep.Indication != verify.TotalPassed {
		return fmt.Errorf("%w: %s", errNotPassed, result(rep.Indication, rep.SubIndication))
	}
	return nil
}

var errNotPassed = errors.New("the document did not pass validation")

// flagsFirst moves the positional arguments after the flags, so that
// `eidp verify FILE --json` works like `eidp verify --json FILE` (the flag
// package stops at the first positional argument).
func flagsFirst(args []string, own func(*flag.FlagSet)) (flags, positional []string, err error) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	config.NewLoader().RegisterFlags(fs)
	own(fs)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil || hasValue {
			continue // the flag package reports unknown flags
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if len(positional) > 0 {
		flags = append(flags, "--")
	}
	return flags, positional, nil
}

func readRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --root: %w", errUsage, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: --root %s: %w", errUsage, path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: --root %s holds no PEM certificate", errUsage, path)
	}
	return pool, nil
}

// trustConfiguredCA points v at the configured CA: its root as the trust
// anchor, its issuing CA as an intermediate, its database for statuses.
func trustConfiguredCA(ctx context.Context, cfg *config.Config, v *verify.Verifier) (func(), error) {
	log := newLogger(cfg, os.Stderr)
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	authority, err := ca.New(d, keyring.New(d, km), km, caConfig(cfg))
	if err != nil {
		closeAll()
		return nil, err
	}
	h, err := authority.Hierarchy(ctx)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("the configured CA: %w (or name the trusted root with --root)", err)
	}
	v.Roots = x509.NewCertPool()
	v.Roots.AddCert(h.Root)
	v.Intermediates = x509.NewCertPool()
	v.Intermediates.AddCert(h.Issuing)
	v.Status = verify.AuthorityStatus(authority, h.Root, h.Issuing)
	return closeAll, nil
}

// verifyFile recognises the file and validates it.
func verifyFile(ctx context.Context, v *verify.Verifier, path, contentPath string) (verify.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return verify.Report{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return verify.Report{}, err
	}
	head := make([]byte, 1024)
	n, _ := io.ReadFull(f, head)
	kind := verify.Sniff(head[:n])
	if kind == "pdf" {
		if contentPath != "" {
			return verify.Report{}, fmt.Errorf("%w: --content is for detached CMS or JAdES signatures, not PDFs", errUsage)
		}
		return v.VerifyPDF(ctx, f, fi.Size())
	}
	if fi.Size() > maxVerifyInput {
		return verify.Report{}, fmt.Errorf("%s: %d bytes, more than the %d accepted", path, fi.Size(), maxVerifyInput)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		return verify.Report{}, err
	}
	var content io.Reader
	var contentBytes []byte
	if contentPath != "" {
		if contentBytes, err = os.ReadFile(contentPath); err != nil {
			return verify.Report{}, fmt.Errorf("%w: --content: %w", errUsage, err)
		}
		content = bytes.NewReader(contentBytes)
	}
	switch verify.Sniff(whole) {
	case "cms":
		return v.VerifyCMS(ctx, whole, content)
	case "jades":
		return v.VerifyJAdES(ctx, whole, contentBytes)
	}
	return verify.Report{}, fmt.Errorf("%s is not a signed PDF, a CMS signature or a JAdES signature", path)
}

func result(i verify.Indication, s verify.SubIndication) string {
	if s == "" {
		return string(i)
	}
	return string(i) + " / " + string(s)
}

func printReport(w io.Writer, path string, rep verify.Report) {
	fmt.Fprintf(w, "%s (%s): %s\n", path, rep.Format, result(rep.Indication, rep.SubIndication))
	if rep.Reason != "" {
		fmt.Fprintf(w, "  %s\n", rep.Reason)
	}
	fmt.Fprintf(w, "Validated at %s\n", rep.ValidationTime.UTC().Format(time.RFC3339))
	for i, s := range rep.Signatures {
		name := ""
		if s.FieldName != "" {
			name = " " + s.FieldName
		}
		fmt.Fprintf(w, "\nSignature %d%s: %s\n", i+1, name, result(s.Indication, s.SubIndication))
		line := func(label, value string) {
			if value != "" {
				fmt.Fprintf(w, "  %-15s %s\n", label+":", value)
			}
		}
		line("Reason", s.Reason)
		signer := s.SignerName
		if s.SignerSerial != "" {
			signer += " (serial " + s.SignerSerial + ")"
		}
		line("Signer", signer)
		line("Level", s.Level)
		line("Claimed time", when(s.ClaimedSigningTime))
		line("Time-stamp", when(s.TimestampTime))
		status := s.CertificateStatus
		if !s.RevokedAt.IsZero() {
			status += " at " + when(s.RevokedAt)
		}
		if s.StatusSource != "" {
			status += " (from " + s.StatusSource + ")"
		}
		line("Status", status)
		line("Coverage", s.Coverage)
		line("Chain", strings.Join(s.Chain, " → "))
		for _, warning := range s.Warnings {
			line("Warning", warning)
		}
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
