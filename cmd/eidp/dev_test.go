package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"eidp/bench/seed"
	"eidp/internal/testenv"
)

const devKeySeed = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func TestDevSeedCreatesExtendsAndKeepsTheClientSecret(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			env := []string{"EIDP_DATABASE_URL=" + d.URL, "EIDP_DATA_DIR=" + t.TempDir()}
			out, stderr := runSplit(t, env, "dev", "seed", "--residents", "3", "--key-seed", devKeySeed, "--batch", "2")
			secret := regexp.MustCompile(`(?m)^client_secret: (\S{20,})$`).FindStringSubmatch(out)
			if secret == nil || !strings.Contains(out, "created client eidp-bench") ||
				!strings.Contains(out, "residents 2/3") || !strings.Contains(out, "residents 3/3") ||
				!strings.Contains(out, "done: 3 residents created, 0 already there; 3 passkeys, 3 consents, 0 vault attributes written") {
				t.Fatalf("first run:\n%s", out)
			}
			if !strings.Contains(stderr, "shown only this once") {
				t.Errorf("no warning that the secret is shown once:\n%s", stderr)
			}
			// The bench client is an ordinary client.
			if show := runOK(t, env, "clients", "show", "eidp-bench"); !strings.Contains(show, `"http://127.0.0.1:9/cb"`) {
				t.Errorf("bench client:\n%s", show)
			}

			out, _ = runSplit(t, env, "dev", "seed", "--residents", "5", "--key-seed", devKeySeed, "--vault")
			if strings.Contains(out, "client_secret") || !strings.Contains(out, "updated bench client eidp-bench (its secret is unchanged)") ||
				!strings.Contains(out, "done: 2 residents created, 3 already there; 2 passkeys, 5 consents, 25 vault attributes written") {
				t.Fatalf("extending run with the vault:\n%s", out)
			}
			out, _ = runSplit(t, env, "dev", "seed", "--residents", "5", "--key-seed", devKeySeed, "--vault")
			if !strings.Contains(out, "done: 0 residents created, 5 already there; 0 passkeys, 0 consents, 0 vault attributes written") {
				t.Fatalf("a run that has nothing to do:\n%s", out)
			}

			// Another key seed for the same people is refused.
			_, stderr, code := runExit(t, env, "dev", "seed", "--residents", "5", "--key-seed", strings.Repeat("ab", 16))
			if code != exitFailure || !strings.Contains(stderr, "eidp: seed: the database holds this population seeded with another key seed (resident 0, Z000000(") {
				t.Fatalf("another key seed: exit %d\n%s", code, stderr)
			}
			// Someone else's client is used as it is.
			runOK(t, env, "clients", "create", "--id", "demo-rp", "--name", "Demo", "--redirect-uri", "http://127.0.0.1:8081/cb", "--scope", "openid profile")
			out, _ = runSplit(t, env, "dev", "seed", "--residents", "1", "--key-seed", devKeySeed, "--client-id", "demo-rp")
			if !strings.Contains(out, "using client demo-rp as it is") || !strings.Contains(out, "1 consents") {
				t.Fatalf("seeding for another client:\n%s", out)
			}
		})
	}
}

func TestDevSeedRefusesProductionAndBadFlags(t *testing.T) {
	data := t.TempDir()
	dev := []string{"EIDP_DATABASE_URL=sqlite:" + filepath.Join(data, "eidp.db"), "EIDP_DATA_DIR=" + data}
	production := append([]string{"EIDP_ENV=production", "EIDP_ISSUER=https://id.example", "EIDP_ALLOW_SOFT_KEYS=true",
		"EIDP_ALLOW_DEMO_REGISTER=true"}, dev...)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"production", production, []string{"seed", "--residents", "3", "--key-seed", devKeySeed}, "refused with env=production"},
		{"certificates in production", production, []string{"seed", "--residents", "3", "--key-seed", devKeySeed, "--certificates"}, "refused with env=production"},
		{"no subcommand", dev, nil, "dev needs a subcommand"},
		{"an unknown subcommand", dev, []string{"grow"}, `unknown dev subcommand "grow"`},
		{"no key seed", dev, []string{"seed", "--residents", "3"}, "--key-seed"},
		{"a short key seed", dev, []string{"seed", "--residents", "3", "--key-seed", "0011"}, "at least 16 bytes"},
		{"no residents", dev, []string{"seed", "--key-seed", devKeySeed}, "--residents must be 1 to 1000000"},
		{"too many residents", dev, []string{"seed", "--residents", "1000001", "--key-seed", devKeySeed}, "--residents must be"},
		{"a zero batch", dev, []string{"seed", "--residents", "3", "--key-seed", devKeySeed, "--batch", "0"}, "--batch must be positive"},
		{"no workers", dev, []string{"seed", "--residents", "3", "--key-seed", devKeySeed, "--workers", "0", "--certificates"}, "--workers must be positive"},
		{"an extra argument", dev, []string{"seed", "--residents", "3", "--key-seed", devKeySeed, "more"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runExit(t, tc.env, append([]string{"dev"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
	// Nothing was written: not even a database.
	if _, err := os.Stat(filepath.Join(data, "eidp.db")); !os.IsNotExist(err) {
		t.Fatalf("a refused command created the database: %v", err)
	}
}

func TestDevSeedIssuesCertificates(t *testing.T) {
	idNumber, err := seed.IDNumber(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			out, _ := runSplit(t, s.env, "dev", "seed", "--residents", "3", "--key-seed", devKeySeed, "--certificates", "--workers", "2")
			issued := regexp.MustCompile(`(?m)^certificates: 3 issued in [0-9.]+m?s \([0-9.]+/s, 2 at once, key backend (soft|pkcs11)\)$`)
			if !issued.MatchString(out) || !strings.Contains(out, "residents 3/3, 3 certificates issued") ||
				!strings.Contains(out, "done: 3 residents created, 0 already there; 3 passkeys, 3 consents, 0 vault attributes written") {
				t.Fatalf("seeding with certificates:\n%s", out)
			}
			// The bench client may ask for the signing scopes.
			if show := runOK(t, s.env, "clients", "show", "eidp-bench"); !strings.Contains(show, "service credential") {
				t.Errorf("bench client:\n%s", show)
			}
			// The CA the server will run holds them: revoking one works, and
			// the next run replaces it, and only it.
			if rev := runOK(t, s.env, "ca", "revoke", "--id-number", idNumber, "--reason", "cessationOfOperation", "--actor", "test"); !strings.Contains(rev, "1 certificate(s) revoked") {
				t.Fatalf("revoking resident 1's certificate:\n%s", rev)
			}
			out, _ = runSplit(t, s.env, "dev", "seed", "--residents", "3", "--key-seed", devKeySeed, "--certificates")
			if !strings.Contains(out, "certificates: 1 issued in") || !strings.Contains(out, "0 residents created, 3 already there") {
				t.Fatalf("a run after a revocation:\n%s", out)
			}
		})
	}
}
