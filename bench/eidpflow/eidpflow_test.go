package eidpflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eidp/bench/loadgen"
)

// The scenarios against the real binary: `eidp dev seed` seeds a
// population, `eidp serve` runs on SQLite, the generator logs residents in.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eidpflow-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "eidp")
	if out, err := exec.Command("go", "build", "-o", binary, "eidp/cmd/eidp").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building eidp: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if sharedStop != nil {
		sharedStop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

const seeded = 20

var keySeed = bytes.Repeat([]byte{0x5e}, 32)

// eidp is a seeded server.
type eidp struct {
	issuer, clientID, secret string
	env                      []string // for more eidp commands on its data
	logs                     *logBuffer
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

var (
	sharedOnce sync.Once
	shared     *eidp
	sharedErr  error
	sharedStop func()
)

// server seeds a population of 20 residents (with vault data) into a new
// SQLite database and starts eidp on it, once for the package.
func server(t *testing.T) *eidp {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedStop, sharedErr = start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

var secretLine = regexp.MustCompile(`(?m)^client_secret: (\S+)$`)

func start() (*eidp, func(), error) {
	dir, err := os.MkdirTemp("", "eidpflow-data")
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	issuer := "http://localhost:" + strconv.Itoa(port)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"EIDP_DATA_DIR=" + dir, "EIDP_DATABASE_URL=sqlite:" + filepath.Join(dir, "eidp.db"),
		"EIDP_ISSUER=" + issuer, "EIDP_ADDR=127.0.0.1:" + strconv.Itoa(port),
		// One address makes every request: no per-address limits.
		"EIDP_TOKEN_RATE_LIMIT=0", "EIDP_CEREMONY_RATE_LIMIT=0"}

	seedCmd := exec.Command(binary, "dev", "seed", "--residents", strconv.Itoa(seeded), "--key-seed", hex.EncodeToString(keySeed), "--vault")
	seedCmd.Env = env
	out, err := seedCmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("eidp dev seed: %v\n%s", err, out)
	}
	m := secretLine.FindSubmatch(out)
	if m == nil || !strings.Contains(string(out), "done: 20 residents created") {
		return nil, nil, fmt.Errorf("eidp dev seed printed no secret or no summary:\n%s", out)
	}

	cmd := exec.Command(binary, "serve")
	cmd.Env = env
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	s := &eidp{issuer: issuer, clientID: "eidp-bench", secret: string(m[1]), env: env, logs: &logBuffer{}}
	up, done := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.logs.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), "eidp listening") {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		}
		done <- cmd.Wait()
	}()
	stop := func() {
		cmd.Process.Kill()
		<-done
		os.RemoveAll(dir)
	}
	select {
	case <-up:
		return s, stop, nil
	case err := <-done:
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("eidp exited before listening: %v\n%s", err, s.logs)
	case <-time.After(60 * time.Second):
		stop()
		return nil, nil, fmt.Errorf("eidp did not start:\n%s", s.logs)
	}
}

func (s *eidp) config() LoginFlowConfig {
	return LoginFlowConfig{Issuer: s.issuer, ClientID: s.clientID, ClientSecret: s.secret, KeySeed: keySeed, Residents: seeded}
}

func run(t *testing.T, sc loadgen.Scenario, workers int, iterations int64) loadgen.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := loadgen.Run(ctx, sc, loadgen.Options{Workers: workers, MaxIterations: iterations})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func TestLoginFlow(t *testing.T) {
	s := server(t)
	sc, err := NewLoginFlow(s.config())
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		idTokens = map[string]bool{}
		logins   = map[int]int{}
		subs     = map[int]string{}
	)
	sc.(*LoginFlow).onLogin = func(index int, l login) {
		mu.Lock()
		defer mu.Unlock()
		idTokens[l.idToken] = true
		logins[index]++
		if prev, ok := subs[index]; ok && prev != l.claims.Subject {
			t.Errorf("resident %d logged in as two subjects", index)
		}
		subs[index] = l.claims.Subject
	}
	res := run(t, sc, 4, 40)
	if res.Iterations != 40 || len(res.Errors) != 0 {
		t.Fatalf("%d iterations, failures %v %v\n%s", res.Iterations, res.Errors, res.FirstErrors, s.logs)
	}
	t.Logf("40 logins, 4 workers: %.1f/s, p50 %v, p99 %v (not a benchmark: server and test share the CPUs)", res.Throughput, res.P50, res.P99)
	if len(idTokens) != 40 {
		t.Fatalf("%d distinct ID tokens in 40 logins", len(idTokens))
	}
	// Round-robin: each of the 20 residents twice, each its own subject.
	for i := range seeded {
		if logins[i] != 2 {
			t.Errorf("resident %d logged in %d times, want 2 (%v)", i, logins[i], logins)
		}
	}
	distinct := map[string]bool{}
	for _, sub := range subs {
		distinct[sub] = true
	}
	if len(distinct) != seeded {
		t.Errorf("%d distinct subjects for %d residents", len(distinct), seeded)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "40 logins of residents 0 … 19") {
		t.Errorf("notes: %q", res.Notes)
	}
}

func TestVaultRelease(t *testing.T) {
	s := server(t)
	sc, err := NewVaultRelease(s.config())
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 4, 40)
	if res.Iterations != 40 || len(res.Errors) != 0 {
		t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
	t.Logf("40 vault releases, 4 workers: %.1f/s, p50 %v", res.Throughput, res.P50)
}

func TestAWrongKeySeedFailsThePasskeyStep(t *testing.T) {
	s := server(t)
	cfg := s.config()
	cfg.KeySeed = bytes.Repeat([]byte{0x77}, 32)
	sc, err := NewLoginFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 2, 8)
	if res.Iterations != 0 || res.Errors[KindPasskey] != 8 || len(res.Errors) != 1 {
		t.Fatalf("%d iterations, failures %v", res.Iterations, res.Errors)
	}
	if d := res.FirstErrors[KindPasskey]; !strings.Contains(d, "status 400") || strings.Contains(d, s.secret) {
		t.Errorf("first passkey failure: %q", d)
	}
	// vault-release needs its logins in Setup: the run does not start.
	vr, err := NewVaultRelease(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadgen.Run(context.Background(), vr, loadgen.Options{Workers: 1, MaxIterations: 1})
	var f *loadgen.Failure
	if !errors.Is(err, loadgen.ErrSetup) || !errors.As(err, &f) || f.Kind != KindPasskey {
		t.Fatalf("vault-release with a wrong seed: %v", err)
	}
}

func TestResidentsOutsideThePopulationFail(t *testing.T) {
	s := server(t)
	cfg := s.config()
	cfg.FirstResident, cfg.Residents = seeded, 3 // never seeded
	sc, err := NewLoginFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := run(t, sc, 1, 3); res.Iterations != 0 || res.Errors[KindPasskey] != 3 {
		t.Fatalf("%d iterations, failures %v", res.Iterations, res.Errors)
	}
}

func TestAWrongClientSecretFailsAtPAR(t *testing.T) {
	s := server(t)
	cfg := s.config()
	cfg.ClientSecret = "not-the-secret"
	sc, err := NewLoginFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, 1, 2)
	if res.Iterations != 0 || res.Errors[KindPAR] != 2 || !strings.Contains(res.FirstErrors[KindPAR], "invalid_client") {
		t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
}

// A client the residents never consented to: the flow stops at the
// consent page, reported as such.
func TestAClientWithoutConsentFailsAtConsent(t *testing.T) {
	s := server(t)
	create := exec.Command(binary, "clients", "create", "--id", "unconsented-rp", "--name", "Unconsented",
		"--redirect-uri", DefaultRedirectURI, "--scope", "openid profile")
	create.Env = s.env
	out, err := create.Output()
	if err != nil {
		t.Fatalf("clients create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`"client_secret": "([^"]+)"`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no secret in:\n%s", out)
	}
	cfg := s.config()
	cfg.ClientID, cfg.ClientSecret = "unconsented-rp", string(m[1])
	sc, err := NewLoginFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res := run(t, sc, 1, 2); res.Iterations != 0 || res.Errors[KindConsent] != 2 || len(res.Errors) != 1 {
		t.Fatalf("%d iterations, failures %v %v", res.Iterations, res.Errors, res.FirstErrors)
	}
}

func TestConfigIsChecked(t *testing.T) {
	good := LoginFlowConfig{Issuer: "http://localhost:8080", ClientID: "c", ClientSecret: "s", KeySeed: keySeed, Residents: 1}
	for name, edit := range map[string]func(*LoginFlowConfig){
		"no issuer":              func(c *LoginFlowConfig) { c.Issuer = "" },
		"an issuer without host": func(c *LoginFlowConfig) { c.Issuer = "localhost:8080" },
		"no client":              func(c *LoginFlowConfig) { c.ClientID = "" },
		"no key seed":            func(c *LoginFlowConfig) { c.KeySeed = nil },
		"a short key seed":       func(c *LoginFlowConfig) { c.KeySeed = keySeed[:8] },
		"no residents":           func(c *LoginFlowConfig) { c.Residents = 0 },
		"a negative first":       func(c *LoginFlowConfig) { c.FirstResident = -1 },
	} {
		cfg := good
		edit(&cfg)
		if _, err := NewLoginFlow(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewLoginFlow = %v, want ErrConfig", name, err)
		}
		if _, err := NewVaultRelease(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewVaultRelease = %v, want ErrConfig", name, err)
		}
	}
	if _, err := NewLoginFlow(good); err != nil {
		t.Fatalf("a good config: %v", err)
	}
}

func TestVaultClaimShapes(t *testing.T) {
	good := map[string]any{
		"sub":                    "s",
		"address":                map[string]any{"formatted": "Flat A\nBench Court", "locality": "Wan Chai", "country": "HK"},
		"phone_number":           "+85291000001",
		"phone_number_verified":  false,
		"email":                  "resident1@bench.example.org",
		"email_verified":         false,
		"eidp_occupation":        "Load test resident",
		"eidp_emergency_contact": map[string]any{"name": "Contact", "relationship": "friend", "phone": "+85220000001"},
	}
	if err := checkVaultClaims(good); err != nil {
		t.Fatalf("good claims: %v", err)
	}
	for name, edit := range map[string]func(map[string]any){
		"no address":                func(c map[string]any) { delete(c, "address") },
		"an address as a string":    func(c map[string]any) { c["address"] = "Flat A" },
		"an address abroad":         func(c map[string]any) { c["address"].(map[string]any)["country"] = "FR" },
		"a local phone number":      func(c map[string]any) { c["phone_number"] = "91000001" },
		"no phone_number_verified":  func(c map[string]any) { delete(c, "phone_number_verified") },
		"no email":                  func(c map[string]any) { delete(c, "email") },
		"email_verified as text":    func(c map[string]any) { c["email_verified"] = "false" },
		"an empty occupation":       func(c map[string]any) { c["eidp_occupation"] = " " },
		"a contact without a phone": func(c map[string]any) { delete(c["eidp_emergency_contact"].(map[string]any), "phone") },
	} {
		c := maps.Clone(good)
		c["address"] = maps.Clone(good["address"].(map[string]any))
		c["eidp_emergency_contact"] = maps.Clone(good["eidp_emergency_contact"].(map[string]any))
		edit(c)
		var f *loadgen.Failure
		if err := checkVaultClaims(c); !errors.As(err, &f) || f.Kind != KindVaultClaims {
			t.Errorf("%s: %v, want a %s failure", name, err, KindVaultClaims)
		}
	}
}

// The scenarios as the command builds them: registered by name, configured
// by flags (bench/oauth's -issuer, -client-id, -client-secret and ours).
func TestRegisteredScenariosTakeTheirFlags(t *testing.T) {
	s := server(t)
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	loadgen.DefineFlags(fs)
	err := fs.Parse([]string{"-issuer", s.issuer, "-client-id", s.clientID, "-client-secret", s.secret,
		"-key-seed", hex.EncodeToString(keySeed), "-residents", "5", "-first-resident", "10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ScenarioLoginFlow, ScenarioVaultRelease} {
		sc, err := loadgen.New(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res := run(t, sc, 2, 4); res.Iterations != 4 || len(res.Errors) != 0 {
			t.Fatalf("%s: %d iterations, failures %v %v", name, res.Iterations, res.Errors, res.FirstErrors)
		}
	}
	if err := fs.Set("key-seed", "0011"); err != nil {
		t.Fatal(err)
	}
	if _, err := loadgen.New(ScenarioLoginFlow); !errors.Is(err, ErrConfig) {
		t.Fatalf("a short -key-seed: %v", err)
	}
}
