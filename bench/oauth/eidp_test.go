package oauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"eidp/bench/loadgen"
	"eidp/internal/testenv"
)

// TestAgainstTheRealEIDP runs the scenarios against the eidp binary, as a
// peer server would be run: over HTTP only, with a client registered by the
// operator command. (The test imports testenv for its databases; the
// scenarios themselves know nothing of eidp.)
func TestAgainstTheRealEIDP(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "eidp")
	if out, err := exec.Command("go", "build", "-o", binary, "eidp/cmd/eidp").CombinedOutput(); err != nil {
		t.Fatalf("building eidp: %v\n%s", err, out)
	}
	for _, d := range testenv.Databases(t) {
		t.Run(string(d.Engine), func(t *testing.T) {
			env := []string{"EIDP_DATABASE_URL=" + d.URL, "EIDP_DATA_DIR=" + t.TempDir(), "EIDP_TOKEN_RATE_LIMIT=0"}
			issuer, pid := startEIDP(t, binary, env)

			secretClient := createClient(t, binary, env, map[string]any{"client_name": "bench secret",
				"grant_types": []string{"client_credentials"}, "scope": "records.read"})
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			der, _ := x509.MarshalPKCS8PrivateKey(key)
			keyFile := filepath.Join(t.TempDir(), "client.pem")
			os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
			jwtClient := createClient(t, binary, env, map[string]any{"client_name": "bench jwt",
				"grant_types": []string{"client_credentials"}, "scope": "records.read", "token_endpoint_auth_method": "private_key_jwt",
				"jwks": jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "bench-1", Use: "sig", Algorithm: "ES256"}}}})

			cfg := Config{Issuer: issuer, ClientID: secretClient["client_id"].(string),
				ClientSecret: secretClient["client_secret"].(string), Scope: "records.read"}
			s, err := NewClientCredentials(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 4, Duration: 2 * time.Second, ServerPID: pid})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", res.Table())
			if len(res.Errors) != 0 || res.Iterations == 0 || !strings.Contains(strings.Join(res.Notes, ""), " 0 opaque") {
				t.Fatalf("client-credentials against eidp: %d iterations, errors %v %v, notes %v", res.Iterations, res.Errors, res.FirstErrors, res.Notes)
			}
			if res.ServerCPUSeconds <= 0 || res.ServerPeakRSSBytes <= 0 {
				t.Fatalf("server figures: CPU %v s, VmHWM %d", res.ServerCPUSeconds, res.ServerPeakRSSBytes)
			}

			jwtCfg := Config{Issuer: issuer, ClientID: jwtClient["client_id"].(string), PrivateKeyFile: keyFile, KeyID: "bench-1", Scope: "records.read"}
			for name, build := range map[string]func(Config) (loadgen.Scenario, error){
				"client-credentials-jwt": NewClientCredentialsJWT, "introspection with a secret": NewIntrospection,
			} {
				c := jwtCfg
				if name == "introspection with a secret" {
					c = cfg
				}
				s, err := build(c)
				if err != nil {
					t.Fatal(err)
				}
				res, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 4, MaxIterations: 100})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(res.Errors) != 0 || res.Iterations != 100 {
					t.Fatalf("%s against eidp: %d iterations, errors %v %v", name, res.Iterations, res.Errors, res.FirstErrors)
				}
			}

			// eidp serves userinfo for residents' tokens only: the scenario
			// says so instead of counting refusals.
			s, _ = NewUserinfo(cfg)
			if _, err := loadgen.Run(context.Background(), s, loadgen.Options{Workers: 1, MaxIterations: 1}); !strings.Contains(errString(err), "-token") {
				t.Fatalf("userinfo with a client token: %v", err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// createClient registers a client with `eidp clients create --metadata -`.
func createClient(t *testing.T, binary string, env []string, metadata map[string]any) map[string]any {
	t.Helper()
	in, _ := json.Marshal(metadata)
	cmd := eidpCommand(binary, env, "clients", "create", "--metadata", "-")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("eidp clients create: %v\n%s", err, stderr.String())
	}
	var created map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &created); err != nil || created["client_id"] == nil {
		t.Fatalf("eidp clients create printed %q: %v", stdout.String(), err)
	}
	return created
}

// eidpCommand runs the binary with a clean environment, so that no EIDP_*
// variable of the developer's shell changes the result.
func eidpCommand(binary string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	return cmd
}

var listening = regexp.MustCompile(`eidp listening.* url=(http://[0-9.:]+)`)

// startEIDP starts `eidp serve` on a free loopback port whose issuer names
// that port (discovery must agree with the address), and returns the issuer
// and the process ID.
func startEIDP(t *testing.T, binary string, env []string) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	issuer := "http://localhost:" + port
	cmd := eidpCommand(binary, append(env, "EIDP_ADDR=127.0.0.1:"+port, "EIDP_ISSUER="+issuer), "serve")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs struct {
		sync.Mutex
		bytes.Buffer
	}
	found, done := make(chan string, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Lock()
			logs.WriteString(sc.Text() + "\n")
			logs.Unlock()
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case url := <-found:
		if url != "http://127.0.0.1:"+port {
			t.Fatalf("eidp listens on %s, not port %s", url, port)
		}
		return issuer, cmd.Process.Pid
	case err := <-done:
		logs.Lock()
		defer logs.Unlock()
		t.Fatalf("eidp exited before listening: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("eidp did not start within 60 s")
	}
	return "", 0
}
