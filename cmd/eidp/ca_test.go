package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"regexp"
	"strings"
	"testing"

	"log/slog"

	"eidp/hsm/keyring"
	"eidp/idp/account"
	"eidp/internal/config"
	"eidp/internal/testenv"
	"eidp/signing/ca"
)

// certsInPEM parses the certificates printed by `ca show --pem`.
func certsInPEM(t *testing.T, out string) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	rest := []byte(out)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("ca show --pem printed a bad certificate: %v", err)
		}
		certs = append(certs, c)
	}
}

func TestCAInitIsIdempotentAndShowPrintsTheHierarchy(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			_, stderr, code := runExit(t, s.env, "ca", "show")
			if code != exitFailure || !strings.Contains(stderr, "eidp ca init") {
				t.Fatalf("ca show before init: exit %d, %q", code, stderr)
			}

			first := runOK(t, s.env, "ca", "init")
			for _, line := range []string{"created the root certificate", "created the issuing certificate", "created the tsa certificate", "created the ocsp certificate"} {
				if !strings.Contains(first, line) {
					t.Fatalf("ca init lacks %q:\n%s", line, first)
				}
			}
			second := runOK(t, s.env, "ca", "init")
			if !strings.Contains(second, "already initialised; nothing changed") || strings.Contains(second, "created") {
				t.Fatalf("second ca init:\n%s", second)
			}
			fingerprints := regexp.MustCompile(`sha256: +([0-9A-F]{64})`)
			if a, b := fingerprints.FindAllString(first, -1), fingerprints.FindAllString(second, -1); len(a) != 4 || strings.Join(a, ",") != strings.Join(b, ",") {
				t.Fatalf("fingerprints changed between two inits: %v → %v", a, b)
			}

			out := runOK(t, s.env, "ca", "show", "--pem")
			certs := certsInPEM(t, out)
			if len(certs) != 4 {
				t.Fatalf("ca show --pem printed %d certificates:\n%s", len(certs), out)
			}
			for _, c := range certs {
				sum := sha256.Sum256(c.Raw)
				for _, want := range []string{
					"subject:      " + c.Subject.String(),
					"serial:       " + hex.EncodeToString(c.SerialNumber.Bytes()),
					"sha256:       " + strings.ToUpper(hex.EncodeToString(sum[:])),
				} {
					if !strings.Contains(out, want) {
						t.Errorf("ca show lacks %q", want)
					}
				}
			}
			for _, want := range []string{
				"Root CA", "Issuing CA (Residents)", "Time-stamping authority", "OCSP responder",
				"download:     http://localhost:8080/pki/root.crt", "crl:          http://localhost:8080/pki/root.crl",
				"ocsp:         http://localhost:8080/pki/ocsp", "ca issuers:   http://localhost:8080/pki/residents-ca.crt",
				"crl:          http://localhost:8080/pki/residents.crl",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("ca show lacks %q:\n%s", want, out)
				}
			}
			// The key URIs are those of the registry.
			keys := runOK(t, s.env, "keys", "list")
			for _, m := range regexp.MustCompile(`key: +(\S+) \(hsm key (\S+)\)`).FindAllStringSubmatch(out, -1) {
				if !strings.Contains(keys, m[1]) || !strings.Contains(keys, m[2]) {
					t.Errorf("key %s (%s) is not in `keys list`:\n%s", m[1], m[2], keys)
				}
			}
			if !strings.Contains(keys, "signing-kek") {
				t.Errorf("ca init did not create the signing-kek key:\n%s", keys)
			}
		})
	}
}

func TestCARefusesBadFlags(t *testing.T) {
	env := []string{"EIDP_DATABASE_URL=sqlite:" + t.TempDir() + "/eidp.db", "EIDP_DATA_DIR=" + t.TempDir()}
	for _, args := range [][]string{
		{"ca"},
		{"ca", "frobnicate"},
		{"ca", "init", "--ca-country", "hk"},
		{"ca", "init", "--ca-cps-uri", "not a url"},
		{"ca", "init", "now"},
		{"ca", "show", "--no-such-flag"},
		{"ca", "init", "--pem"},
	} {
		_, stderr, code := runExit(t, env, args...)
		if code != exitUsage || !strings.Contains(stderr, "eidp: usage") {
			t.Errorf("eidp %s: exit %d, stderr %q; want a usage error", strings.Join(args, " "), code, stderr)
		}
	}
	if out := runOK(t, env, "ca", "show", "--help"); !strings.Contains(out, "-pem") {
		t.Errorf("ca show --help does not document --pem:\n%s", out)
	}
}

// An operator revokes a resident's certificate by ID-card number: the CA
// says revoked with the reason, and bad flags change nothing.
func TestCARevokeByIDNumber(t *testing.T) {
	ctx := context.Background()
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir()}
	runOK(t, env, "ca", "init")
	cfg, err := config.NewLoader().Load(env)
	if err != nil {
		t.Fatal(err)
	}
	d, km, closeAll, err := openDatabaseAndKeys(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	resident, err := account.NewStore(d).Create(ctx, account.Profile{IDNumber: "A1234563", Surname: "CHAN", GivenNames: "Tai Man",
		BirthDate: "1985-04-12", Gender: "M"}, "high")
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.New(d, keyring.New(d, km), km, caConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := authority.Issue(ctx, ca.IssueRequest{ResidentID: resident.ID, GivenName: "Tai Man", FamilyName: "CHAN", Level: ca.LevelHigh})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"ca", "revoke", "--id-number", "A123456(3)", "--reason", "certificateHold", "--actor", "ticket 1"},
		{"ca", "revoke", "--id-number", "A123456(3)", "--reason", "keyCompromise"},
		{"ca", "revoke", "--id-number", "A123456(4)", "--reason", "keyCompromise", "--actor", "ticket 1"},
	} {
		if _, _, code := runExit(t, env, bad...); code == 0 {
			t.Fatalf("eidp %v succeeded", bad)
		}
	}
	if st, err := authority.Status(ctx, cert.Serial); err != nil || st.Revoked {
		t.Fatalf("status after refused revocations: %+v, %v", st, err)
	}
	out := runOK(t, env, "ca", "revoke", "--id-number", "A123456(3)", "--reason", "keyCompromise", "--actor", "ticket 4711")
	if !strings.Contains(out, "1 certificate(s) revoked (keyCompromise)") {
		t.Fatalf("ca revoke printed:\n%s", out)
	}
	st, err := authority.Status(ctx, cert.Serial)
	if err != nil || !st.Revoked || st.Reason != ca.ReasonKeyCompromise {
		t.Fatalf("status after revocation: %+v, %v", st, err)
	}
	if out := runOK(t, env, "ca", "revoke", "--id-number", "A123456(3)", "--reason", "keyCompromise", "--actor", "ticket 4711"); !strings.Contains(out, "0 certificate(s) revoked") {
		t.Fatalf("a second revocation printed:\n%s", out)
	}
}
