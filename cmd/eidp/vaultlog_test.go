package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"eidp/internal/testenv"
	"eidp/vault/accesslog"
)

// runExit runs the binary and returns its stdout, stderr and exit code.
func runExit(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := eidpCmd(context.Background(), env, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		t.Fatalf("eidp %s: %v", strings.Join(args, " "), err)
		return "", "", 0
	}
}

func TestVaultVerifyLogDetectsEditedAndDeletedEntries(t *testing.T) {
	for _, tdb := range testenv.Databases(t) {
		t.Run(string(tdb.Engine), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			env := []string{"EIDP_DATABASE_URL=" + tdb.URL, "EIDP_DATA_DIR=" + t.TempDir()}
			d := testenv.OpenDB(t, tdb.URL)
			log := accesslog.New(d)
			for _, r := range []string{"edited", "middle", "newest", "intact"} {
				for i := range 4 {
					_, err := log.Append(ctx, accesslog.Entry{
						ResidentID: r, ClientID: fmt.Sprintf("client-%d", i), ClientName: "Transport Department",
						Attributes: []string{"address", "given_name"}, Consent: "consent-1", RequestID: fmt.Sprintf("req-%d", i),
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if out := runOK(t, env, "vault", "verify-log"); !strings.Contains(out, "checked 4 chains, 16 entries: OK") {
				t.Fatalf("verify-log of an untouched log:\n%s", out)
			}
			if out := runOK(t, env, "vault", "verify-log", "--resident", "edited"); !strings.Contains(out, "resident edited: OK") {
				t.Fatalf("verify-log --resident of an untouched chain:\n%s", out)
			}

			tamper := func(query string) {
				t.Helper()
				if res, err := d.ExecContext(ctx, query); err != nil {
					t.Fatal(err)
				} else if n, _ := res.RowsAffected(); n != 1 {
					t.Fatalf("%s changed %d rows, want 1", query, n)
				}
			}
			// wantProblems runs verify-log and wants it to fail naming
			// exactly these "resident, entry N:" problems.
			wantProblems := func(want ...string) {
				t.Helper()
				stdout, stderr, code := runExit(t, env, "vault", "verify-log")
				if code != exitFailure {
					t.Fatalf("verify-log exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
				}
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				if len(lines) != len(want) {
					t.Fatalf("verify-log printed %d problems, want %d:\n%s", len(lines), len(want), stdout)
				}
				for i, w := range want {
					if !strings.HasPrefix(lines[i], w) {
						t.Errorf("problem %d = %q, want it to start with %q", i+1, lines[i], w)
					}
				}
				if !strings.Contains(stderr, "eidp: accesslog: the chain does not verify: checked 4 chains") {
					t.Errorf("stderr lacks the one-line verdict:\n%s", stderr)
				}
			}

			tamper(`UPDATE vault_access_log SET attributes = '["address","given_name","id_number"]' WHERE resident_id = 'edited' AND seq = 2`)
			wantProblems("resident edited, entry 2: the content of entry 2 does not match its hash")
			stdout, stderr, code := runExit(t, env, "vault", "verify-log", "--resident", "edited")
			if code != exitFailure || !strings.Contains(stderr, "resident edited, entry 2:") || strings.Contains(stdout, "OK") {
				t.Fatalf("verify-log --resident of the edited chain: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			runOK(t, env, "vault", "verify-log", "--resident", "intact")

			tamper(`DELETE FROM vault_access_log WHERE resident_id = 'middle' AND seq = 2`)
			wantProblems(
				"resident edited, entry 2:",
				"resident middle, entry 2: entry 2 is missing",
			)

			tamper(`DELETE FROM vault_access_log WHERE resident_id = 'newest' AND seq = 4`)
			wantProblems(
				"resident edited, entry 2:",
				"resident middle, entry 2:",
				"resident newest, entry 4: entry 4, the newest per the chain head, is missing",
			)

			// Restoring the edited entry makes its chain verify again.
			tamper(`UPDATE vault_access_log SET attributes = '["address","given_name"]' WHERE resident_id = 'edited' AND seq = 2`)
			runOK(t, env, "vault", "verify-log", "--resident", "edited")
		})
	}
}

func TestVaultCommandNeedsAKnownSubcommand(t *testing.T) {
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir()}
	for _, args := range [][]string{
		{"vault"},
		{"vault", "shred-everything"},
		{"vault", "verify-log", "extra"},
		{"vault", "verify-log", "--no-such-flag"},
	} {
		_, stderr, code := runExit(t, env, args...)
		if code != exitUsage || !strings.HasPrefix(stderr, "eidp: usage: ") {
			t.Errorf("eidp %s: exit %d, want %d with a usage line\n%s", strings.Join(args, " "), code, exitUsage, stderr)
		}
	}
	out := runOK(t, env, "vault", "--help")
	if !strings.Contains(out, "verify-log") || !strings.Contains(out, "rotate-kek") {
		t.Errorf("vault --help:\n%s", out)
	}
	if out := runOK(t, env, "vault", "verify-log", "--help"); !strings.Contains(out, "-resident") {
		t.Errorf("vault verify-log --help lacks --resident:\n%s", out)
	}

	// verify-log only reads: it does not migrate a database that is behind.
	_, stderr, code := runExit(t, env, "vault", "verify-log")
	if code != exitFailure || !strings.Contains(stderr, "run `eidp migrate` first") {
		t.Errorf("verify-log on an empty database: exit %d\n%s", code, stderr)
	}
	if out := runOK(t, env, "migrate", "status"); !strings.Contains(out, "schema version: 0") {
		t.Errorf("verify-log changed the schema:\n%s", out)
	}
}
