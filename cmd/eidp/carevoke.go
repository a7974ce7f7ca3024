package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"eidp/hsm/keyring"
	"eidp/idp/account"
	"eidp/idp/proofing"
	"eidp/signing/ca"
)

// eidp ca revoke --id-number N --reason R [--actor NAME]: an operator
// revokes a resident's signing certificates (a reported lost phone, a court
// order, a mistaken identity). Their wrapped keys are destroyed; the CRL is
// regenerated and OCSP answers "revoked" at once.
func runCARevoke(ctx context.Context, args []string, stdout io.Writer) error {
	var idNumber, reasonName, actor string
	cfg, fs, err := loadConfig("ca revoke", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&idNumber, "id-number", "", "the resident's ID-card number, e.g. A123456(3)")
		fs.StringVar(&reasonName, "reason", "", "RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation or unspecified")
		fs.StringVar(&actor, "actor", "", "who asks (recorded with the revocation), e.g. a ticket number")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: eidp ca revoke takes no arguments, not %q", errUsage, fs.Args())
	}
	canonical, err := proofing.NormalizeIDNumber(idNumber)
	if err != nil {
		return fmt.Errorf("%w: --id-number: %w", errUsage, err)
	}
	reason, err := ca.ParseReason(reasonName)
	if err != nil {
		return fmt.Errorf("%w: --reason: %w", errUsage, err)
	}
	if actor == "" {
		return fmt.Errorf("%w: --actor is required (who asked for the revocation)", errUsage)
	}
	log := newLogger(cfg, os.Stderr)
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := migrateDatabase(ctx, d, log); err != nil {
		return err
	}
	resident, err := account.NewStore(d).ByIDNumber(ctx, canonical)
	if err != nil {
		return fmt.Errorf("resident %s: %w", proofing.FormatIDNumber(canonical), err)
	}
	authority, err := ca.New(d, keyring.New(d, km), km, caConfig(cfg), ca.WithLogger(log))
	if err != nil {
		return err
	}
	n, err := authority.RevokeResident(ctx, resident.ID, reason, "operator: "+actor)
	if err != nil {
		return err
	}
	if n > 0 {
		detail := map[string]string{"reason": ca.ReasonName(reason), "by": "operator"}
		if err := account.NewStore(d).Record(ctx, resident.ID, account.KindCertificateRevoked, detail); err != nil {
			log.Warn("activity log", "err", err)
		}
	}
	fmt.Fprintf(stdout, "resident %s: %d certificate(s) revoked (%s)\n", proofing.FormatIDNumber(canonical), n, ca.ReasonName(reason))
	return nil
}
