package conformance

import (
	"bufio"
	"bytes"
	"context"

	"fmt"
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

	"github.com/chromedp/chromedp"
)

var (
	// binary is cmd/eidp, built once for the package.
	binary string
	// browserCtx is the one browser of the package; tests open tabs in it.
	browserCtx context.Context
	// noBrowser says why there is no browser (then browserCtx is nil).
	noBrowser string
	// workDir holds the binary, the browser profile and the shared server.
	workDir string
)

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	var err error
	workDir, err = os.MkdirTemp("", "eidp-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)

	binary = filepath.Join(workDir, "eidp")
	if out, err := exec.Command("go", "build", "-o", binary, "eidp/cmd/eidp").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building eidp: %v\n%s", err, out)
		return 1
	}

	stop := startBrowser()
	defer stop()
	defer stopSharedServer()
	return m.Run()
}

// chromiumPath finds Debian's Chromium. The real binary is launched, not
// the /usr/bin/chromium wrapper, which adds flags of its own.
func chromiumPath() string {
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

const installHint = "install it with: sudo apt-get install chromium fonts-noto-cjk (./scripts/test does this when run as root)"

// startBrowser starts the package's browser, or records why it cannot. The
// context of the first Run owns the browser, so it has no timeout.
func startBrowser() (stop func()) {
	path := chromiumPath()
	if path == "" {
		noBrowser = "Chromium is not installed: " + installHint
		return func() {}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(filepath.Join(workDir, "chromium-profile")),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		// Residents' phones show the pages at 390 CSS pixels; tests that
		// care set the size themselves.
		chromedp.WindowSize(1024, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		noBrowser = fmt.Sprintf("Chromium (%s) did not start: %v", path, err)
		return func() {}
	}
	browserCtx = ctx
	return func() { cancel(); cancelAlloc() }
}

// needBrowser skips the test when there is no browser, or fails it under
// CI=true, where a missing component must never pass as a skip.
func needBrowser(t *testing.T) {
	t.Helper()
	if browserCtx != nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(noBrowser)
	}
	t.Skip(noBrowser)
}

// ---- the server --------------------------------------------------------

// server is a running `eidp serve`, reachable at URL (http://localhost:PORT).
type server struct {
	URL  string
	Port int
	cmd  *exec.Cmd
	logs *logBuffer
	done chan error
	env  []string // what the eidp CLI needs to work on this server's database
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

// mark is a place in the log; since returns what was logged after it.
func (l *logBuffer) mark() int { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Len() }

func (l *logBuffer) since(mark int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b.Bytes()[mark:])
}

// tail returns the last n lines, for failure messages.
func (l *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort asks the kernel for a free port on 127.0.0.1. The server is
// started on it right after; the issuer (and so the WebAuthn origin) must
// name the port before the server starts, so port 0 will not do.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var listening = regexp.MustCompile(`msg="eidp listening".* url=http://127\.0\.0\.1:(\d+)`)

// launch starts the binary with a clean environment: only PATH, HOME and
// what the test sets, so that no EIDP_* variable of the developer's shell
// changes the result.
func launch(dataDir, databaseURL string, extraEnv ...string) (*server, error) {
	var lastErr error
	for range 3 { // another process may take the free port first
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launchOn(port, dataDir, databaseURL, extraEnv)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func launchOn(port int, dataDir, databaseURL string, extraEnv []string) (*server, error) {
	cmd := exec.Command(binary, "serve")
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"EIDP_DATA_DIR=" + dataDir,
		"EIDP_DATABASE_URL=" + databaseURL,
		"EIDP_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"EIDP_ISSUER=http://localhost:" + strconv.Itoa(port),
	}, extraEnv...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{URL: "http://localhost:" + strconv.Itoa(port), Port: port, cmd: cmd, logs: &logBuffer{}, done: make(chan error, 1),
		env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "EIDP_DATA_DIR=" + dataDir, "EIDP_DATABASE_URL=" + databaseURL}}
	up := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				p, _ := strconv.Atoi(m[1])
				up <- p
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case p := <-up:
		if p != port {
			s.stop()
			return nil, fmt.Errorf("server listens on port %d, not %d", p, port)
		}
		return s, nil
	case err := <-s.done:
		s.done <- err
		return nil, fmt.Errorf("server exited before listening: %v\n%s", err, s.logs)
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("server did not start within 60 s:\n%s", s.logs)
	}
}

// stop ends the server with SIGTERM (a clean stop), then SIGKILL.
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// logged asserts that the server logged a line, after mark, that contains
// every one of parts: the reason for a refusal, which the resident is not
// told (DESIGN.md: internal details only in logs).
//
// The server writes the line before it answers, but the test reads the
// server's stderr through a pipe, so the line may arrive a moment later.
func (s *server) logged(t *testing.T, mark int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(s.logs.since(mark), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server logged no line with %q; it logged:\n%s", parts, s.logs.since(mark))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startServer runs a server of the test's own on databaseURL, stopped when
// the test ends.
func startServer(t *testing.T, databaseURL string, extraEnv ...string) *server {
	t.Helper()
	s, err := launch(t.TempDir(), databaseURL, extraEnv...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log (last lines):\n%s", s.logs.tail(40))
		}
	})
	return s
}

// The shared server: tests that register different people do not
// interfere, so they share one server on SQLite. They do share its
// per-address rate limits (every request comes from 127.0.0.1): identity
// proofing allows a burst of 20 forms, ceremonies a burst of 30 calls,
// refilled over time; the tests stay well within both.
var (
	sharedOnce sync.Once
	shared     *server
	sharedErr  error
)

func sharedServer(t *testing.T) *server {
	t.Helper()
	needBrowser(t) // its only users
	sharedOnce.Do(func() {
		dir := filepath.Join(workDir, "shared")
		if sharedErr = os.MkdirAll(dir, 0o700); sharedErr != nil {
			return
		}
		shared, sharedErr = launch(dir, "sqlite:"+filepath.Join(dir, "eidp.db"))
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	if shared.cmd.ProcessState != nil {
		t.Fatalf("the shared server has exited:\n%s", shared.logs.tail(40))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared server log (last lines):\n%s", shared.logs.tail(40))
		}
	})
	return shared
}

func stopSharedServer() {
	if shared != nil {
		shared.stop()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
