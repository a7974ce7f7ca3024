package eidpflow

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"eidp/bench/loadgen"
	"eidp/bench/oauth"
)

// eidpCommand runs the eidp binary on the shared server's data.
func (s *eidp) command(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("eidp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// withRefreshGrant gives the bench client the refresh_token grant for the
// test (as scripts/loadbench does), and takes it away again.
func withRefreshGrant(t *testing.T, s *eidp) {
	t.Helper()
	s.command(t, "clients", "update", s.clientID, "--grant", "authorization_code", "--grant", "refresh_token")
	t.Cleanup(func() { s.command(t, "clients", "update", s.clientID, "--grant", "authorization_code") })
}

func readSaved(t *testing.T, path string) []SavedLogin {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []SavedLogin
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l SavedLogin
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d is not a whole SavedLogin: %v\n%s", len(out)+1, err, sc.Text())
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoginTokensSavesEveryLoginsTokens(t *testing.T) {
	s := server(t)
	withRefreshGrant(t, s)
	path := filepath.Join(t.TempDir(), "tokens.jsonl")
	if err := os.WriteFile(path, []byte("an older run's line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, err := NewLoginTokens(s.config(), path)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 4, 20)
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 20 || len(res.Errors) != 0 {
		t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the tokens file: %v, mode %v, want 0600", err, fi.Mode())
	}
	saved := readSaved(t, path) // the older line is gone: truncated
	if len(saved) != 20 {
		t.Fatalf("%d lines for 20 logins", len(saved))
	}
	access, refresh, subs := map[string]bool{}, map[string]bool{}, map[int]string{}
	for _, l := range saved {
		if l.AccessToken == "" || l.RefreshToken == "" || l.Subject == "" || l.ExpiresIn <= 0 || l.Resident < 0 || l.Resident >= seeded {
			t.Fatalf("an incomplete line: resident %d, sub %q, expires_in %d, access %t, refresh %t",
				l.Resident, l.Subject, l.ExpiresIn, l.AccessToken != "", l.RefreshToken != "")
		}
		if prev, ok := subs[l.Resident]; ok && prev != l.Subject {
			t.Errorf("resident %d saved with two subjects", l.Resident)
		}
		subs[l.Resident] = l.Subject
		access[l.AccessToken], refresh[l.RefreshToken] = true, true
	}
	if len(access) != 20 || len(refresh) != 20 || len(subs) != seeded {
		t.Fatalf("%d distinct access tokens, %d refresh tokens, %d residents in 20 logins", len(access), len(refresh), len(subs))
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "20 logins' tokens saved (warm-up included), 20 with a refresh token") {
		t.Errorf("notes: %q", res.Notes)
	}

	// The saved tokens are what bench/oauth's refresh and userinfo take.
	var accessTokens, refreshTokens []string
	for _, l := range saved {
		accessTokens, refreshTokens = append(accessTokens, l.AccessToken), append(refreshTokens, l.RefreshToken)
	}
	cfg := oauth.Config{Issuer: s.issuer, ClientID: s.clientID, ClientSecret: s.secret}
	cfg.RefreshTokens, cfg.AccessTokens = refreshTokens, accessTokens
	for _, build := range []func(oauth.Config) (loadgen.Scenario, error){oauth.NewRefresh, oauth.NewUserinfo} {
		sc, err := build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res := run(t, sc, 4, 40); res.Iterations != 40 || len(res.Errors) != 0 {
			t.Fatalf("%s with the saved tokens: %d iterations, failures %v %v", sc.Name(), res.Iterations, res.Errors, res.FirstErrors)
		}
	}
}

func TestLoginTokensWithoutTheRefreshGrantSavesAccessTokensOnly(t *testing.T) {
	s := server(t)
	path := filepath.Join(t.TempDir(), "tokens.jsonl")
	sc, err := NewLoginTokens(s.config(), path)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 2, 4)
	sc.Close()
	if res.Iterations != 4 || len(res.Errors) != 0 {
		t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
	saved := readSaved(t, path)
	if len(saved) != 4 {
		t.Fatalf("%d lines for 4 logins", len(saved))
	}
	for _, l := range saved {
		if l.AccessToken == "" || l.RefreshToken != "" {
			t.Fatalf("access token %t, refresh token %t: want only an access token", l.AccessToken != "", l.RefreshToken != "")
		}
	}
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, "0 with a refresh token (none: give the client the refresh_token grant)") {
		t.Errorf("notes: %q", notes)
	}
}

func TestLoginTokensSavesNothingForAFailedLogin(t *testing.T) {
	s := server(t)
	cfg := s.config()
	cfg.ClientSecret = "not-the-secret"
	path := filepath.Join(t.TempDir(), "tokens.jsonl")
	sc, err := NewLoginTokens(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 1, 3)
	sc.Close()
	if res.Iterations != 0 || res.Errors[KindPAR] != 3 {
		t.Fatalf("%d iterations, failures %v", res.Iterations, res.Errors)
	}
	if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
		t.Fatalf("the file after failed logins: %v, %q", err, b)
	}
}

func TestLoginTokensNeedsAWritableFile(t *testing.T) {
	s := server(t)
	if _, err := NewLoginTokens(s.config(), ""); !errors.Is(err, ErrConfig) {
		t.Fatalf("no file: %v, want ErrConfig", err)
	}
	bad := s.config()
	bad.Residents = 0
	if _, err := NewLoginTokens(bad, "x"); !errors.Is(err, ErrConfig) {
		t.Fatalf("a bad login config: %v, want ErrConfig", err)
	}
	path := filepath.Join(t.TempDir(), "no-such-dir", "tokens.jsonl")
	sc, err := NewLoginTokens(s.config(), path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadgen.Run(context.Background(), sc, loadgen.Options{Workers: 1, MaxIterations: 1})
	if !errors.Is(err, loadgen.ErrSetup) || !errors.Is(err, ErrSaveTokens) {
		t.Fatalf("an unwritable file: %v, want a set-up error", err)
	}
	// Closed: a late iteration fails instead of writing nowhere.
	sc.Close()
	if err := sc.Do(context.Background(), &loadgen.Worker{Client: loadgen.NewHTTPClient(1)}); err == nil {
		t.Fatal("an iteration after Close succeeded")
	}
}

func TestLoginTokensIsRegisteredWithItsFlag(t *testing.T) {
	s := server(t)
	path := filepath.Join(t.TempDir(), "tokens.jsonl")
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	loadgen.DefineFlags(fs)
	if err := fs.Parse([]string{"-issuer", s.issuer, "-client-id", s.clientID, "-client-secret", s.secret,
		"-key-seed", hex.EncodeToString(keySeed), "-residents", "3", "-save-tokens", path}); err != nil {
		t.Fatal(err)
	}
	sc, err := loadgen.New(ScenarioLoginTokens)
	if err != nil {
		t.Fatal(err)
	}
	if res := run(t, sc, 1, 3); res.Iterations != 3 || len(res.Errors) != 0 {
		t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
	sc.(*LoginTokens).Close()
	if got := readSaved(t, path); len(got) != 3 {
		t.Fatalf("%d lines for 3 logins", len(got))
	}
	if err := fs.Set("save-tokens", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := loadgen.New(ScenarioLoginTokens); !errors.Is(err, ErrConfig) {
		t.Fatalf("no -save-tokens: %v, want ErrConfig", err)
	}
}

// A public client (token_endpoint_auth_method none): the flow sends its
// client_id in the bodies instead of a secret, eidp rotates its refresh
// tokens (RFC 9700 §4.14.2), the refresh scenario keeps each worker's
// newest one, and a rotated-out token is refused afterwards.
func TestAPublicClientLogsInAndRotatesRefreshTokens(t *testing.T) {
	s := server(t)
	const id = "eidp-bench-public"
	s.command(t, "clients", "create", "--id", id, "--name", "Public bench client", "--auth-method", "none",
		"--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", DefaultRedirectURI, "--scope", "openid profile")
	// The first four residents consent to it.
	s.command(t, "dev", "seed", "--residents", "4", "--key-seed", hex.EncodeToString(keySeed), "--client-id", id)
	cfg := s.config()
	cfg.ClientID, cfg.ClientSecret, cfg.Residents = id, "", 4
	path := filepath.Join(t.TempDir(), "tokens.jsonl")
	sc, err := NewLoginTokens(cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 4, 4)
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 4 || len(res.Errors) != 0 {
		t.Fatalf("public client logins: %d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
	var first []string
	for _, l := range readSaved(t, path) {
		first = append(first, l.RefreshToken)
	}
	if len(first) != 4 || slices.Contains(first, "") {
		t.Fatalf("refresh tokens saved: %q", first)
	}

	rc := oauth.Config{Issuer: s.issuer, ClientID: id, RefreshTokens: first}
	rs, err := oauth.NewRefresh(rc)
	if err != nil {
		t.Fatal(err)
	}
	res = run(t, rs, 4, 40)
	if res.Iterations != 40 || len(res.Errors) != 0 {
		t.Fatalf("rotating refresh: %d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
	if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, "40 refresh grants (warm-up included), 40 answered with a new refresh token") {
		t.Errorf("notes: %q", notes)
	}

	// The login's own token was rotated out: the server refuses it now.
	rc.RefreshTokens = first[:1]
	if rs, err = oauth.NewRefresh(rc); err != nil {
		t.Fatal(err)
	}
	if res = run(t, rs, 1, 1); res.Iterations != 0 || res.Failures() != 1 {
		t.Fatalf("a rotated-out token: %d iterations, %d failures, want it refused", res.Iterations, res.Failures())
	}
}
