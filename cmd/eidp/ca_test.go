package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"regexp"
	"strings"
	"testing"
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
		{"ca", "init", "--country", "hk"},
		{"ca", "init", "--cps-uri", "not a url"},
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
