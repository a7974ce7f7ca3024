package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"eidp/idp/client"
	"eidp/internal/testenv"
)

// runSplit runs the binary, fails the test if it fails, and returns its
// stdout and stderr apart.
func runSplit(t *testing.T, env []string, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := eidpCmd(context.Background(), env, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("eidp %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// decodeClient reads the JSON a clients command printed.
func decodeClient(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	return m
}

func TestClientsCommandsCreateListShowRotateAndDelete(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			env := []string{"EIDP_DATABASE_URL=" + d.URL, "EIDP_DATA_DIR=" + t.TempDir()}
			meta := filepath.Join(t.TempDir(), "client.json")
			os.WriteFile(meta, []byte(`{
				"client_name": "Transport Department licensing",
				"redirect_uris": ["https://td.example.gov/cb"],
				"grant_types": ["authorization_code", "refresh_token"],
				"contacts": ["it@td.example.gov"]
			}`), 0o600)

			out, warn := runSplit(t, env, "clients", "create", "--metadata", meta, "--id", "td-licensing", "--allow-id-card")
			created := decodeClient(t, out)
			secret, _ := created["client_secret"].(string)
			if created["client_id"] != "td-licensing" || len(secret) != 43 || created["scope"] != "openid eidp:idcard" ||
				created["allow_id_card"] != true || created["subject_type"] != "pairwise" {
				t.Fatalf("create printed:\n%s", out)
			}
			if strings.Contains(out, "client_secret_hash") {
				t.Fatalf("create printed the hash:\n%s", out)
			}
			if !strings.Contains(warn, "will not be shown again") {
				t.Fatalf("no warning that the secret is shown once:\n%s", warn)
			}
			// The printed secret is the one the server will accept.
			store := client.NewStore(testenv.OpenDB(t, d.URL), client.Options{})
			if _, err := store.VerifySecret(context.Background(), "td-licensing", secret); err != nil {
				t.Fatalf("the printed secret does not verify: %v", err)
			}

			runOK(t, env, "clients", "create", "--name", "Lands Department", "--redirect-uri", "http://localhost:8081/cb", "--auth-method", "none")
			list := runOK(t, env, "clients", "list")
			for _, want := range []string{"CLIENT ID", "td-licensing", "Transport Department licensing", "id-card", "Lands Department", "none"} {
				if !strings.Contains(list, want) {
					t.Errorf("list lacks %q:\n%s", want, list)
				}
			}

			show, _ := runSplit(t, env, "clients", "show", "td-licensing")
			shown := decodeClient(t, show)
			if shown["client_name"] != "Transport Department licensing" || shown["client_secret"] != nil || strings.Contains(show, "hash") {
				t.Fatalf("show printed:\n%s", show)
			}

			// show's output, edited, is an update.
			edited := strings.Replace(show, "Transport Department licensing", "Transport Department e-Licensing", 1)
			os.WriteFile(meta, []byte(edited), 0o600)
			runOK(t, env, "clients", "update", "td-licensing", "--metadata", meta)
			runOK(t, env, "clients", "update", "td-licensing", "--redirect-uri", "https://td.example.gov/cb2", "--public-subject")
			show, _ = runSplit(t, env, "clients", "show", "td-licensing")
			shown = decodeClient(t, show)
			if shown["client_name"] != "Transport Department e-Licensing" || shown["subject_type"] != "public" ||
				!strings.Contains(show, "https://td.example.gov/cb2") || strings.Contains(show, `"https://td.example.gov/cb"`) {
				t.Fatalf("after update, show printed:\n%s", show)
			}
			if _, err := store.VerifySecret(context.Background(), "td-licensing", secret); err != nil {
				t.Fatalf("update lost the secret: %v", err)
			}

			out, warn = runSplit(t, env, "clients", "rotate-secret", "td-licensing")
			fresh, _ := decodeClient(t, out)["client_secret"].(string)
			if fresh == "" || fresh == secret || !strings.Contains(warn, "will not be shown again") {
				t.Fatalf("rotate-secret printed:\n%s\n%s", out, warn)
			}
			if _, err := store.VerifySecret(context.Background(), "td-licensing", secret); !errors.Is(err, client.ErrInvalidClient) {
				t.Fatalf("the old secret still verifies after rotate-secret: %v", err)
			}
			if _, err := store.VerifySecret(context.Background(), "td-licensing", fresh); err != nil {
				t.Fatalf("the rotated secret does not verify: %v", err)
			}

			if out := runOK(t, env, "clients", "delete", "td-licensing"); !strings.Contains(out, "deleted client td-licensing") {
				t.Fatalf("delete printed: %s", out)
			}
			out2, err := eidpCmd(context.Background(), env, "clients", "show", "td-licensing").CombinedOutput()
			if err == nil || !strings.Contains(string(out2), "no such client") {
				t.Fatalf("show after delete: %v\n%s", err, out2)
			}
			if list := runOK(t, env, "clients", "list"); strings.Contains(list, "td-licensing") {
				t.Fatalf("deleted client still listed:\n%s", list)
			}
		})
	}
}

func TestClientsCreateWithABadRedirectURIFailsWithOneLineNamingTheField(t *testing.T) {
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd := eidpCmd(context.Background(), env, "clients", "create", "--name", "Water Supplies", "--redirect-uri", "https://wsd.example.gov/cb#done")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
		t.Fatalf("want exit code %d, got %v", exitFailure, err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("a refused client printed something:\n%s", stdout.String())
	}
	// Start-up logs (migrations applied) may precede it; the error is the
	// one line of eidp's own.
	var errLines []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(line, "eidp: ") {
			errLines = append(errLines, line)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], "redirect_uris[0]") || !strings.Contains(errLines[0], "fragment") {
		t.Fatalf("want one error line naming redirect_uris[0] and the fragment, got:\n%s", stderr.String())
	}
	if list := runOK(t, env, "clients", "list"); strings.Contains(list, "Water Supplies") {
		t.Fatalf("the refused client was stored:\n%s", list)
	}
}

// runFail runs the binary, wants it to fail with exitFailure and nothing on
// stdout, and returns eidp's own error lines from stderr.
func runFail(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := eidpCmd(context.Background(), env, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
		t.Fatalf("eidp %s: want exit code %d, got %v\n%s", strings.Join(args, " "), exitFailure, err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("a failed command printed on stdout:\n%s", stdout.String())
	}
	var errLines []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(line, "eidp: ") {
			errLines = append(errLines, line)
		}
	}
	return errLines
}

func TestClientsConsentPageFlagsSetAndClearTheFields(t *testing.T) {
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir()}
	out, _ := runSplit(t, env, "clients", "create", "--id", "wsd-billing", "--name", "Water Supplies e-Billing",
		"--redirect-uri", "https://wsd.example.gov/cb",
		"--name-zh", "水務署電子賬單", "--purpose", "To send your water bills to your e-mail.",
		"--purpose-zh", "把水費單寄到你的電郵。", "--logo-uri", "https://wsd.example.gov/logo.svg",
		"--client-uri", "https://wsd.example.gov/", "--policy-uri", "https://wsd.example.gov/privacy",
		"--tos-uri", "https://wsd.example.gov/terms")
	created := decodeClient(t, out)
	want := map[string]string{
		"client_name#zh-Hant":  "水務署電子賬單",
		"eidp_purpose":         "To send your water bills to your e-mail.",
		"eidp_purpose#zh-Hant": "把水費單寄到你的電郵。",
		"logo_uri":             "https://wsd.example.gov/logo.svg",
		"client_uri":           "https://wsd.example.gov/",
		"policy_uri":           "https://wsd.example.gov/privacy",
		"tos_uri":              "https://wsd.example.gov/terms",
	}
	for k, v := range want {
		if created[k] != v {
			t.Errorf("create: %s = %v, want %q", k, created[k], v)
		}
	}

	// An update flag changes its field only; an empty value removes it.
	runOK(t, env, "clients", "update", "wsd-billing", "--purpose-zh", "", "--logo-uri", "https://wsd.example.gov/logo2.svg")
	show, _ := runSplit(t, env, "clients", "show", "wsd-billing")
	shown := decodeClient(t, show)
	if _, ok := shown["eidp_purpose#zh-Hant"]; ok || shown["logo_uri"] != "https://wsd.example.gov/logo2.svg" ||
		shown["eidp_purpose"] != want["eidp_purpose"] || shown["client_name#zh-Hant"] != want["client_name#zh-Hant"] {
		t.Fatalf("after update, show printed:\n%s", show)
	}

	// Bad values fail with one line naming the field, and change nothing.
	for _, tt := range []struct {
		args        []string
		field, what string
	}{
		{[]string{"--logo-uri", "https://wsd.example.gov/logo.svg#top"}, "logo_uri", "fragment"},
		{[]string{"--tos-uri", "http://wsd.example.gov/terms"}, "tos_uri", "https"},
		{[]string{"--purpose", strings.Repeat("x", 301)}, "eidp_purpose", "at most 300"},
		{[]string{"--name-zh", "水務署\n賬單"}, "client_name#zh-Hant", "control characters"},
		{[]string{"--purpose", "", "--purpose-zh", "繳費"}, "eidp_purpose#zh-Hant", "untagged eidp_purpose"},
	} {
		lines := runFail(t, env, append([]string{"clients", "update", "wsd-billing"}, tt.args...)...)
		if len(lines) != 1 || !strings.Contains(lines[0], tt.field+":") || !strings.Contains(lines[0], tt.what) {
			t.Errorf("update %q: want one error line naming %s and %q, got %q", tt.args, tt.field, tt.what, lines)
		}
	}
	if after, _ := runSplit(t, env, "clients", "show", "wsd-billing"); after != show {
		t.Fatalf("a refused update changed the client:\n%s\n%s", show, after)
	}

	// A translation eidp does not keep is refused, not dropped.
	meta := filepath.Join(t.TempDir(), "client.json")
	os.WriteFile(meta, []byte(`{"client_name":"Lands","client_name#fr":"Terres","redirect_uris":["https://landsd.example.gov/cb"]}`), 0o600)
	lines := runFail(t, env, "clients", "create", "--metadata", meta)
	if len(lines) != 1 || !strings.Contains(lines[0], "client_name#fr") || !strings.Contains(lines[0], "zh-Hant") {
		t.Fatalf("want one error line naming client_name#fr, got %q", lines)
	}
}

func TestClientsAdminFlagMakesAnAdminClientWithTheAdminScope(t *testing.T) {
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir()}
	out, _ := runSplit(t, env, "clients", "create", "--id", "ops-tooling", "--name", "Operations tooling",
		"--grant", "client_credentials", "--admin")
	created := decodeClient(t, out)
	if created["admin"] != true || created["scope"] != client.ScopeAdmin || created["client_secret"] == nil {
		t.Fatalf("create --admin printed:\n%s", out)
	}
	runOK(t, env, "clients", "update", "ops-tooling", "--admin=false")
	show, _ := runSplit(t, env, "clients", "show", "ops-tooling")
	if shown := decodeClient(t, show); shown["admin"] != nil || shown["scope"] != nil {
		t.Fatalf("update --admin=false left:\n%s", show)
	}
	// The scope alone, without admin, is refused.
	lines := runFail(t, env, "clients", "update", "ops-tooling", "--scope", client.ScopeAdmin)
	if len(lines) != 1 || !strings.Contains(lines[0], "scope:") || !strings.Contains(lines[0], "needs admin: true") {
		t.Fatalf("want one error line about the admin scope, got %q", lines)
	}
}

// TestClientsCreateChecksTheSectorIdentifier: a sector_identifier_uri is
// fetched and must list every redirect URI (OpenID Connect Registration §5);
// a document that lacks one refuses the client and stores nothing.
func TestClientsCreateChecksTheSectorIdentifier(t *testing.T) {
	doc := `["https://a.example.gov/cb", "https://b.example.gov/cb"]`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/partial.json" {
			w.Write([]byte(`["https://a.example.gov/cb"]`))
			return
		}
		w.Write([]byte(doc))
	}))
	defer srv.Close()
	// The binary trusts the test server's certificate as a system root.
	roots := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	env := []string{"EIDP_DATABASE_URL=" + testenv.SQLite(t), "EIDP_DATA_DIR=" + t.TempDir(), "SSL_CERT_FILE=" + roots}
	meta := func(uri string) string {
		f := filepath.Join(t.TempDir(), "client.json")
		os.WriteFile(f, []byte(`{"client_name": "Two hosts", "redirect_uris": ["https://a.example.gov/cb", "https://b.example.gov/cb"],
			"sector_identifier_uri": "`+uri+`"}`), 0o600)
		return f
	}
	out, _ := runSplit(t, env, "clients", "create", "--metadata", meta(srv.URL+"/sector.json"), "--id", "two-hosts")
	if c := decodeClient(t, out); c["sector_identifier_uri"] != srv.URL+"/sector.json" {
		t.Fatalf("create printed:\n%s", out)
	}
	bad, err := eidpCmd(context.Background(), env, "clients", "create", "--metadata", meta(srv.URL+"/partial.json"), "--id", "partial").CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "sector_identifier_uri") || !strings.Contains(string(bad), "b.example.gov") {
		t.Fatalf("a sector document missing a redirect URI: %v\n%s", err, bad)
	}
	if list, _ := runSplit(t, env, "clients", "list"); strings.Contains(list, "partial") {
		t.Fatalf("the refused client was stored:\n%s", list)
	}
}
