package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"eidp/internal/testenv"
)

// These tests run the real binary, as an operator would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eidp-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "eidp")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building eidp: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup is one way to run the server: a database and a key backend.
type setup struct {
	name string
	env  []string
}

// setups returns every database × key backend combination.
func setups(t *testing.T) []setup {
	t.Helper()
	var out []setup
	tok := testenv.SoftHSM(t)
	pinFile := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(pinFile, []byte(tok.PIN+"\n"), 0o600)
	for _, d := range testenv.Databases(t) {
		data := t.TempDir()
		out = append(out, setup{string(d.Engine) + "/soft", []string{
			"EIDP_DATABASE_URL=" + d.URL, "EIDP_DATA_DIR=" + data,
		}})
	}
	for _, d := range testenv.Databases(t) {
		out = append(out, setup{string(d.Engine) + "/softhsm2", []string{
			"EIDP_DATABASE_URL=" + d.URL, "EIDP_DATA_DIR=" + t.TempDir(),
			"EIDP_KEY_BACKEND=pkcs11", "EIDP_PKCS11_MODULE=" + tok.Module, "EIDP_PKCS11_TOKEN=" + tok.Label,
			"EIDP_PKCS11_PIN_FILE=" + pinFile, "SOFTHSM2_CONF=" + tok.Conf,
		}})
	}
	return out
}

func eidpCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	// A clean environment: only what the test sets, so no stray EIDP_*
	// variable of the developer's shell changes the result.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	return cmd
}

// server is a running `eidp serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var listeningURL = regexp.MustCompile(`eidp listening.* url=(http://[0-9.:]+)`)

func startServer(t *testing.T, env []string) *server {
	t.Helper()
	cmd := eidpCmd(context.Background(), append(env, "EIDP_ADDR=127.0.0.1:0"), "serve")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			if m := listeningURL.FindStringSubmatch(line); m != nil {
				found <- m[1]
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case s.url = <-found:
		return s
	case err := <-s.done:
		t.Fatalf("server exited before listening: %v\n%s", err, s.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", s.logs)
	}
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeAnswersHealthReadinessAndMetrics(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			srv := startServer(t, s.env)
			if code, body := get(t, srv.url+"/healthz"); code != 200 || !strings.Contains(body, "alive") {
				t.Fatalf("/healthz: %d %s", code, body)
			}
			code, body := get(t, srv.url+"/readyz")
			var ready struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal([]byte(body), &ready); err != nil || code != 200 || ready.Status != "ready" ||
				ready.Checks["database"] != "ok" || ready.Checks["keys"] != "ok" {
				t.Fatalf("/readyz: %d %s", code, body)
			}
			code, set := get(t, srv.url+"/jwks")
			var published struct {
				Keys []struct{ Kid, Kty, Use, Alg, Crv string } `json:"keys"`
			}
			// One ES256 key (oidc-signing) and one RSA key (oidc-signing-rsa,
			// for RS256/PS256 clients; no "alg": it serves both).
			if err := json.Unmarshal([]byte(set), &published); err != nil || code != 200 || len(published.Keys) != 2 ||
				published.Keys[0].Use != "sig" || published.Keys[0].Alg != "ES256" || published.Keys[0].Kid == "" ||
				published.Keys[1].Use != "sig" || published.Keys[1].Kty != "RSA" || published.Keys[1].Kid == "" {
				t.Fatalf("/jwks: %d %s", code, set)
			}
			if list := runOK(t, s.env, "keys", "list", "--role", "oidc-signing"); !strings.Contains(list, published.Keys[0].Kid) {
				t.Fatalf("the published kid is not the registry's:\n%s", list)
			}
			if list := runOK(t, s.env, "keys", "list", "--role", "oidc-signing-rsa"); !strings.Contains(list, published.Keys[1].Kid) {
				t.Fatalf("the published RSA kid is not the registry's:\n%s", list)
			}
			code, metrics := get(t, srv.url+"/metrics")
			if code != 200 {
				t.Fatalf("/metrics: %d", code)
			}
			backend := "soft"
			if strings.HasSuffix(s.name, "softhsm2") {
				backend = "pkcs11"
			}
			for _, want := range []string{
				`eidp_http_requests_total{code="200",method="GET",route="GET /readyz"} 1`,
				`eidp_http_request_duration_seconds_bucket{method="GET",route="GET /healthz"`,
				`eidp_hsm_operation_duration_seconds_count{algorithm="EC-P256",backend="` + backend + `",op="sign"}`,
				`go_sql_open_connections{db_name="eidp"}`,
				`eidp_build_info{version=`,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			if backend == "soft" && !strings.Contains(srv.logs.String(), "for development only") {
				t.Errorf("the soft backend must say it is for development:\n%s", srv.logs)
			}
			// SIGTERM: a clean stop.
			srv.cmd.Process.Signal(syscall.SIGTERM)
			if err := <-srv.done; err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.logs)
			}
			if !strings.Contains(srv.logs.String(), "eidp stopped") {
				t.Errorf("no clean-stop log line:\n%s", srv.logs)
			}
		})
	}
}

func TestBadConfigStopsTheStartWithOneLineNamingTheSetting(t *testing.T) {
	dir := t.TempDir()
	unknownFile := filepath.Join(dir, "eidp.toml")
	os.WriteFile(unknownFile, []byte("adress = \"localhost:1\"\n"), 0o600)
	module := filepath.Join(dir, "module.so")
	os.WriteFile(module, nil, 0o600)
	data := "EIDP_DATA_DIR=" + t.TempDir()
	tok := testenv.SoftHSM(t)
	hsmEnv := func(label, pin string) []string {
		return []string{data, "EIDP_KEY_BACKEND=pkcs11", "EIDP_PKCS11_MODULE=" + tok.Module, "EIDP_PKCS11_TOKEN=" + label,
			"EIDP_PKCS11_PIN=" + pin, "SOFTHSM2_CONF=" + tok.Conf}
	}
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown key in the config file", []string{data}, []string{"--config", unknownFile}, `unknown setting "adress"`},
		{"unknown environment variable", []string{data, "EIDP_DATABASE=sqlite:x"}, nil, "unknown environment variable EIDP_DATABASE"},
		{"unknown flag", []string{data}, []string{"--databse-url", "x"}, "flag provided but not defined: -databse-url"},
		{"database URL of an unknown kind", []string{data, "EIDP_DATABASE_URL=mysql://localhost/eidp"}, nil, "setting database_url"},
		{"unreachable database", []string{data, "EIDP_DATABASE_URL=postgres://eidp:hunter2@/eidp?host=" + dir + "&connect_timeout=2", "EIDP_DB_CONNECT_TIMEOUT=2s"}, nil, "setting database_url"},
		{"unreadable PIN file", []string{data, "EIDP_KEY_BACKEND=pkcs11", "EIDP_PKCS11_MODULE=" + module, "EIDP_PKCS11_TOKEN=t", "EIDP_PKCS11_PIN_FILE=" + filepath.Join(dir, "no-such-pin")}, nil, "setting pkcs11_pin_file"},
		{"a token label the HSM does not have", hsmEnv("no-such-token", tok.PIN), nil, "setting pkcs11_token"},
		{"a wrong PIN", hsmEnv(tok.Label, "hunter2"), nil, "setting pkcs11_pin_file"},
		{"a file that is not a PKCS#11 module", append(hsmEnv(tok.Label, tok.PIN), "EIDP_PKCS11_MODULE="+module), nil, "setting pkcs11_module"},
		{"production with the soft backend", []string{data, "EIDP_ENV=production", "EIDP_ISSUER=https://id.example"}, nil, "setting key_backend"},
		{"production over plain HTTP", []string{data, "EIDP_ENV=production", "EIDP_ALLOW_SOFT_KEYS=true"}, nil, "setting issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := eidpCmd(context.Background(), tc.env, append([]string{"serve"}, tc.args...)...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("the server started with bad configuration")
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 {
				t.Errorf("want one line, got:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("want %q in %q", tc.want, out)
			}
			if strings.Contains(out, "goroutine") || strings.Contains(out, "hunter2") {
				t.Errorf("stack trace or secret in %q", out)
			}
		})
	}
}

func TestServeHelpDocumentsEverySetting(t *testing.T) {
	out, err := eidpCmd(context.Background(), nil, "serve", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EIDP_DATABASE_URL", "--database-url", "EIDP_PKCS11_PIN ", "EIDP_MASTER_KEY", "--key-backend", "--config"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("help lacks %s", want)
		}
	}
}

func runOK(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := eidpCmd(context.Background(), env, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("eidp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestKeysCommandsCreateListAndRotate(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			runOK(t, s.env, "keys", "create", "--role", "tsa")
			out, err := eidpCmd(context.Background(), s.env, "keys", "create", "--role", "tsa").CombinedOutput()
			if err == nil || !strings.Contains(string(out), "use rotate") {
				t.Fatalf("a second create should point to rotate: %v %s", err, out)
			}
			out, err = eidpCmd(context.Background(), s.env, "keys", "create", "--role", "vault-kek", "--alg", "EC-P256").CombinedOutput()
			if err == nil || !strings.Contains(string(out), "needs AES-256") {
				t.Fatalf("a signing algorithm for the KEK should be refused: %v %s", err, out)
			}
			runOK(t, s.env, "keys", "rotate", "--role", "tsa", "--alg", "RSA-2048")
			list := runOK(t, s.env, "keys", "list", "--role", "tsa")
			if strings.Count(list, "active") != 1 || strings.Count(list, "retiring") != 1 || !strings.Contains(list, "RSA-2048") {
				t.Fatalf("after rotate, want one active RSA key and one retiring key:\n%s", list)
			}
		})
	}
}

// Kill -9 while the schema is migrated, while keys are rotated and while the
// server starts, then restart: migrations and data are consistent and the
// server is ready.
func TestKillDuringWritesThenRestart(t *testing.T) {
	for _, s := range setups(t) {
		t.Run(s.name, func(t *testing.T) {
			// Migrations on a fresh database, killed at random points:
			// each migration is one transaction, so none is half applied.
			for range 4 {
				kill(t, s.env, time.Duration(5+rand.IntN(60))*time.Millisecond, "migrate")
			}
			runOK(t, s.env, "migrate")
			runOK(t, s.env, "keys", "create", "--role", "ocsp")
			// SoftHSM2's file object store is not crash-safe: a process
			// killed while it has the token open can leave the whole token
			// unreadable (seen here, even for a server killed during its
			// start). A hardware HSM commits atomically; our soft backend
			// does too (write, fsync, rename). So processes that open the
			// token are killed only on the soft backend.
			if strings.HasSuffix(s.name, "softhsm2") {
				runOK(t, s.env, "keys", "create", "--role", "oidc-signing")
			} else {
				for range 6 {
					kill(t, s.env, time.Duration(20+rand.IntN(150))*time.Millisecond, "keys", "rotate", "--role", "ocsp")
				}
				// A server killed during its first start (key creation).
				kill(t, append(s.env, "EIDP_ADDR=127.0.0.1:0"), time.Duration(50+rand.IntN(200))*time.Millisecond, "serve")
			}

			status := runOK(t, s.env, "migrate", "status")
			if !regexp.MustCompile(`schema version: (\d+) \(this binary knows up to (\d+)\)`).MatchString(status) || strings.Contains(status, "pending") {
				t.Fatalf("schema after kill: %s", status)
			}
			list := runOK(t, s.env, "keys", "list", "--role", "ocsp")
			if strings.Count(list, " active ") != 1 || strings.Contains(list, "MISSING") {
				t.Fatalf("want exactly one active ocsp key, every key present in the backend:\n%s", list)
			}
			up := startServer(t, s.env)
			if code, body := get(t, up.url+"/readyz"); code != 200 {
				t.Fatalf("/readyz after kill -9: %d %s\n%s", code, body, up.logs)
			}
			list = runOK(t, s.env, "keys", "list", "--role", "oidc-signing")
			if strings.Count(list, " active ") != 1 {
				t.Fatalf("want exactly one active signing key:\n%s", list)
			}
		})
	}
}

// kill starts eidp with args and sends it SIGKILL after d.
func kill(t *testing.T, env []string, d time.Duration, args ...string) {
	t.Helper()
	cmd := eidpCmd(context.Background(), env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}
