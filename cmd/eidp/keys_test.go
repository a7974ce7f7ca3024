package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"eidp/internal/testenv"
)

// keys rotate tells the operator when the new signing key starts signing and
// when the old one stops being published; keys list shows the schedule.
func TestKeysRotatePublishesAheadAndPrintsTheSchedule(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			env := []string{"EIDP_DATABASE_URL=" + d.URL, "EIDP_DATA_DIR=" + t.TempDir()}
			runOK(t, env, "keys", "create", "--role", "oidc-signing")

			out := runOK(t, env, "keys", "rotate", "--role", "oidc-signing")
			ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
			if !regexp.MustCompile(`is published now and starts signing at `+ts+` \(in 1h0m0s\)`).MatchString(out) ||
				!regexp.MustCompile(`previous key \S+ signs until `+ts+` and stops being published at `+ts+` \(in 25h0m0s\)`).MatchString(out) {
				t.Fatalf("rotate output lacks the schedule:\n%s", out)
			}
			list := runOK(t, env, "keys", "list", "--role", "oidc-signing")
			if !strings.Contains(list, "ACTIVATE AT") || !strings.Contains(list, "RETIRE AT") ||
				strings.Count(list, " next ") != 1 || strings.Count(list, " active ") != 1 {
				t.Fatalf("after rotate, want one next and one active key with their times:\n%s", list)
			}

			pending, err := eidpCmd(context.Background(), env, "keys", "rotate", "--role", "oidc-signing").CombinedOutput()
			if err == nil || !strings.Contains(string(pending), "rotation is already pending") {
				t.Fatalf("a second rotation while one is pending: %v\n%s", err, pending)
			}

			out = runOK(t, env, "keys", "rotate", "--role", "oidc-signing", "--now")
			if !regexp.MustCompile(`new key \S+ \(EC-P256\) \S+ signs now`).MatchString(out) ||
				!regexp.MustCompile(`previous key \S+ \(retiring\) stops being published at `+ts+` \(in 24h0m0s\)`).MatchString(out) {
				t.Fatalf("--now output:\n%s", out)
			}
			list = runOK(t, env, "keys", "list", "--role", "oidc-signing")
			if strings.Count(list, " active ") != 1 || strings.Count(list, " retiring ") != 1 ||
				strings.Count(list, " retired ") != 1 || strings.Contains(list, " next ") {
				t.Fatalf("after --now, want active, retiring and the never-used next key retired:\n%s", list)
			}

			misuse, err := eidpCmd(context.Background(), env, "keys", "list", "--now").CombinedOutput()
			if err == nil || !strings.Contains(string(misuse), "for keys rotate") {
				t.Fatalf("--now outside rotate: %v\n%s", err, misuse)
			}
		})
	}
}
