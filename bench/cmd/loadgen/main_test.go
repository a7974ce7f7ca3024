package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// tokenServer is a minimal OAuth server issuing opaque tokens to one client
// with client_secret_basic; broken makes it answer 500.
func tokenServer(t *testing.T, ln net.Listener) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	var broken atomic.Bool
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": "http://" + r.Host, "token_endpoint": "http://" + r.Host + "/token"})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if id, secret, ok := r.BasicAuth(); !ok || id != "cli" || secret != "sec" || r.PostFormValue("grant_type") != "client_credentials" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		if broken.Load() {
			w.WriteHeader(500)
			w.Write([]byte(`{"error":"server_error"}`))
			return
		}
		w.Write([]byte(`{"access_token":"opaque-token","token_type":"Bearer","expires_in":60}`))
	})
	srv = httptest.NewUnstartedServer(mux)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &broken
}

func runCommand(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestListShowsTheRegisteredScenarios(t *testing.T) {
	code, out, _ := runCommand(t, "-list")
	for _, want := range []string{"client-credentials ", "client-credentials-jwt", "refresh", "userinfo", "introspection"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("-list (exit %d) lacks %s:\n%s", code, want, out)
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for name, args := range map[string][]string{
		"no scenario":       {},
		"unknown scenario":  {"-scenario", "no-such"},
		"no workers":        {"-scenario", "client-credentials", "-client-id", "a", "-client-secret", "b", "-workers", "0"},
		"a missing secret":  {"-scenario", "client-credentials", "-client-id", "a"},
		"an unknown flag":   {"-scenario", "client-credentials", "-frobnicate"},
		"a stray argument":  {"-scenario", "client-credentials", "extra"},
		"no duration/bound": {"-scenario", "client-credentials", "-client-id", "a", "-client-secret", "b", "-duration", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, stderr := runCommand(t, args...); code != 2 || stderr == "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestARunPrintsTheTableAppendsJSONAndFailsLoudly(t *testing.T) {
	srv, broken := tokenServer(t, nil)
	out := filepath.Join(t.TempDir(), "runs.jsonl")
	args := []string{"-scenario", "client-credentials", "-issuer", srv.URL, "-client-id", "cli", "-client-secret", "sec",
		"-workers", "2", "-warmup", "0", "-duration", "0", "-max", "50", "-json", out, "-server-pid", strconv.Itoa(os.Getpid())}

	code, table, stderr := runCommand(t, args...)
	if code != 0 || !strings.Contains(table, "50 succeeded, 0 failed") || !strings.Contains(table, "50 opaque access tokens") {
		t.Fatalf("exit %d\n%s\n%s", code, table, stderr)
	}
	broken.Store(true)
	code, table, stderr = runCommand(t, args...)
	if code != 1 || !strings.Contains(stderr, "FAILED: 50 iterations") || !strings.Contains(table, `status: 50 (first: token endpoint: status 500 (error "server_error")`) {
		t.Fatalf("a broken server: exit %d\n%s\n%s", code, table, stderr)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two JSON lines, got:\n%s", b)
	}
	var first, second struct {
		Iterations int64            `json:"iterations"`
		Errors     map[string]int64 `json:"errors"`
		ServerPID  int              `json:"server_pid"`
	}
	if json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[1]), &second) != nil ||
		first.Iterations != 50 || len(first.Errors) != 0 || first.ServerPID != os.Getpid() || second.Errors["status"] != 50 {
		t.Fatalf("JSON lines:\n%s", b)
	}
}

func TestANonLoopbackTargetIsRefusedUnlessAllowed(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := tokenServer(t, ln)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	remote := "http://" + net.JoinHostPort(nonLoopbackIP(t), strconv.Itoa(port))
	args := []string{"-scenario", "client-credentials", "-issuer", remote, "-client-id", "cli", "-client-secret", "sec",
		"-workers", "1", "-warmup", "0", "-duration", "0", "-max", "5"}
	if code, _, stderr := runCommand(t, args...); code != 1 || !strings.Contains(stderr, "non-loopback") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if code, table, stderr := runCommand(t, append(args, "-allow-remote")...); code != 0 || !strings.Contains(table, "5 succeeded") {
		t.Fatalf("with -allow-remote: exit %d\n%s%s", code, table, stderr)
	}
}

func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address to test the refusal with")
	return ""
}
