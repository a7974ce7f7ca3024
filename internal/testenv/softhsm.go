package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables read by SoftHSM.
const (
	// SoftHSMDirEnv names a directory (created and removed at exit by
	// ./scripts/test) in which each test process makes its token directory.
	// Unset, the process uses a directory under os.TempDir.
	SoftHSMDirEnv = "EIDP_TEST_SOFTHSM_DIR"
	// PKCS11ModuleEnv overrides the SoftHSM2 module path.
	PKCS11ModuleEnv = "EIDP_TEST_PKCS11_MODULE"
	// SoftHSMTokensEnv overrides how many tokens a process prepares
	// (default 12), that is how many SoftHSM calls one test binary may make.
	SoftHSMTokensEnv = "EIDP_TEST_SOFTHSM_TOKENS"
)

const (
	defaultSoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"
	defaultSoftHSMTokens = 12
	softHSMInstall       = "apt-get install softhsm2 (Debian/Ubuntu; it provides softhsm2-util and " + defaultSoftHSMModule + "), or set " + PKCS11ModuleEnv
)

// Token is a SoftHSM2 token ready for use: initialised, with a user PIN, and
// reachable through Module once SOFTHSM2_CONF (set by SoftHSM) points at Conf.
type Token struct {
	Module string // PKCS #11 module path
	Label  string // token label, unique in this process
	PIN    string // user PIN
	SOPIN  string // security officer PIN
	Conf   string // the softhsm2.conf in SOFTHSM2_CONF
}

// softHSM is the per-process token directory and its prepared tokens.
var softHSM struct {
	sync.Mutex
	ready bool
	err   error
	conf  string
	spare []Token
	made  int
}

// SoftHSM returns a fresh SoftHSM2 token for this test. The first call in a
// process creates a token directory and a softhsm2.conf and sets
// SOFTHSM2_CONF in the process environment (SoftHSM reads it at C_Initialize,
// once per process); later calls hand out further tokens (unique labels,
// random PINs) in the same directory.
//
// SoftHSM 2.6 scans its token directory only at C_Initialize: a token that
// softhsm2-util adds after this process loaded the module stays invisible to
// it. So the first call prepares all the tokens the process may use
// (EIDP_TEST_SOFTHSM_TOKENS, default 12, about 50 ms each) before any test can load the module,
// and a call after they are used up fails the test with a message saying so.
//
// A token is deleted (softhsm2-util --delete-token) when its test ends. The
// per-process directory itself cannot be removed by a test — the module stays
// initialised, with the directory open, until the process exits — so it is
// made inside EIDP_TEST_SOFTHSM_DIR, which ./scripts/test removes at exit, or
// else in os.TempDir, where the next process that calls SoftHSM removes the
// directories of test processes that have exited.
//
// Without softhsm2-util or the module the test is skipped, or fails under
// CI=true.
func SoftHSM(t testing.TB) Token {
	t.Helper()
	module := os.Getenv(PKCS11ModuleEnv)
	if module == "" {
		module = defaultSoftHSMModule
	}
	util, err := exec.LookPath("softhsm2-util")
	if err == nil {
		_, err = os.Stat(module)
	}
	if err != nil {
		skipOrFail(t, fmt.Sprintf("SoftHSM2 is not installed (%v): %s", err, softHSMInstall))
	}

	softHSM.Lock()
	defer softHSM.Unlock()
	if !softHSM.ready {
		softHSM.ready = true
		softHSM.err = prepareSoftHSM(util, module)
	}
	if softHSM.err != nil {
		t.Fatalf("SoftHSM2 test tokens: %v", softHSM.err)
	}
	if len(softHSM.spare) == 0 {
		t.Fatalf("SoftHSM2: all %d tokens prepared for this test process are taken; raise %s "+
			"(SoftHSM 2.6 sees only tokens that exist when the module is initialised, so they are made up front)",
			softHSM.made, SoftHSMTokensEnv)
	}
	tok := softHSM.spare[0]
	softHSM.spare = softHSM.spare[1:]

	t.Cleanup(func() {
		// Runs after the test's own cleanups, which close what it opened on
		// the token. Deleting removes the token's files; this process's
		// module keeps the (now unused) slot until exit.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := softHSMUtil(ctx, util, tok.Conf, "--delete-token", "--token", tok.Label); err != nil {
			t.Logf("SoftHSM2: deleting token %q: %v: %s", tok.Label, err, out)
		}
	})
	return tok
}

// prepareSoftHSM makes the per-process directory and conf, sets
// SOFTHSM2_CONF and initialises the tokens the process may use.
func prepareSoftHSM(util, module string) error {
	n := defaultSoftHSMTokens
	if v := os.Getenv(SoftHSMTokensEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			return fmt.Errorf("%s=%q: want a positive number", SoftHSMTokensEnv, v)
		}
	}
	base := os.Getenv(SoftHSMDirEnv)
	if base != "" {
		if err := os.MkdirAll(base, 0o700); err != nil {
			return fmt.Errorf("%s: %w", SoftHSMDirEnv, err)
		}
	}
	removeExitedSoftHSMDirs(base)
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", softHSMDirPrefix, os.Getpid()))
	if err != nil {
		return err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	content := "# Written by eidp/internal/testenv for test process " + strconv.Itoa(os.Getpid()) + ".\n" +
		"directories.tokendir = " + tokens + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
	if err := os.WriteFile(conf, []byte(content), 0o600); err != nil {
		return err
	}
	// SoftHSM reads SOFTHSM2_CONF in C_Initialize, once per process: set it
	// before any test can load the module, and keep it (t.Setenv would undo
	// it when the first test ends).
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return err
	}
	softHSM.conf = conf

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := softHSMRandom(3)
	for i := range n {
		tok := Token{
			Module: module,
			Label:  fmt.Sprintf("eidp-test-%s-%02d", run, i),
			PIN:    softHSMRandom(8),
			SOPIN:  softHSMRandom(8),
			Conf:   conf,
		}
		out, err := softHSMUtil(ctx, util, conf, "--init-token", "--free",
			"--label", tok.Label, "--pin", tok.PIN, "--so-pin", tok.SOPIN)
		if err != nil {
			return fmt.Errorf("softhsm2-util --init-token --free --label %s: %w: %s", tok.Label, err, out)
		}
		softHSM.spare = append(softHSM.spare, tok)
		softHSM.made++
	}
	return nil
}

// softHSMDirPrefix starts the name of every per-process directory; the pid
// follows.
const softHSMDirPrefix = "eidp-softhsm-"

// removeExitedSoftHSMDirs removes the per-process directories in base (or
// os.TempDir) whose process has exited: they cannot be removed by the
// process itself. A directory whose pid is alive, even reused by another
// program, is kept.
func removeExitedSoftHSMDirs(base string) {
	if base == "" {
		base = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(base, softHSMDirPrefix+"*"))
	for _, dir := range dirs {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(dir), softHSMDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		// Signal 0 only probes: ErrProcessDone (ESRCH) means gone; EPERM
		// means alive under another user.
		if p, err := os.FindProcess(pid); err == nil && !errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone) {
			continue
		}
		os.RemoveAll(dir)
	}
}

// softHSMUtil runs softhsm2-util with SOFTHSM2_CONF=conf.
func softHSMUtil(ctx context.Context, util, conf string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, util, args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// softHSMRandom returns n random bytes in hex.
func softHSMRandom(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
