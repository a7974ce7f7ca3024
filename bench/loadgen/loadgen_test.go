package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fake is a scenario whose Do is a function of the call number (1, 2, …).
type fake struct {
	setupErr error
	calls    atomic.Int64
	do       func(ctx context.Context, n int64) error
	setups   atomic.Int64
}

func (f *fake) Name() string { return "fake" }
func (f *fake) Setup(context.Context, *Env) error {
	f.setups.Add(1)
	return f.setupErr
}
func (f *fake) Do(ctx context.Context, w *Worker) error {
	n := f.calls.Add(1)
	if f.do == nil {
		return nil
	}
	return f.do(ctx, n)
}

func TestPercentilesAreNearestRank(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 100; i++ {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	rand.Shuffle(len(samples), func(i, j int) { samples[i], samples[j] = samples[j], samples[i] })
	sorted := append([]time.Duration(nil), samples...)
	slicesSort(sorted)
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(sorted, c.p); got != c.want {
			t.Errorf("p%v of 1..100 ms = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one sample = %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

func TestRunReportsTheLatenciesItSaw(t *testing.T) {
	// One call in ten takes 30 ms, the others 1 ms: p50 is near 1 ms, p95
	// and max at least 30 ms. Sleeps overshoot, so only lower bounds and a
	// loose upper bound on p50 are asserted.
	s := &fake{do: func(ctx context.Context, n int64) error {
		d := time.Millisecond
		if n%10 == 0 {
			d = 30 * time.Millisecond
		}
		time.Sleep(d)
		Responded(ctx)
		return nil
	}}
	res, err := Run(context.Background(), s, Options{Workers: 4, MaxIterations: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 200 || res.Failures() != 0 {
		t.Fatalf("iterations %d, failures %v", res.Iterations, res.Errors)
	}
	if res.P50 < time.Millisecond || res.P50 >= 30*time.Millisecond {
		t.Errorf("p50 = %v, want between 1 ms and 30 ms", res.P50)
	}
	if res.P95 < 30*time.Millisecond || res.Max < 30*time.Millisecond || res.P99 < res.P95 || res.Max < res.P99 {
		t.Errorf("p95 %v p99 %v max %v: want ≥ 30 ms and ordered", res.P95, res.P99, res.Max)
	}
	if res.Throughput <= 0 || res.Duration <= 0 {
		t.Errorf("throughput %v over %v", res.Throughput, res.Duration)
	}
}

func TestRespondedEndsTheLatencyBeforeTheChecks(t *testing.T) {
	s := &fake{do: func(ctx context.Context, n int64) error {
		Responded(ctx)
		time.Sleep(20 * time.Millisecond) // "verifying signatures"
		return nil
	}}
	res, err := Run(context.Background(), s, Options{Workers: 2, MaxIterations: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Max >= 20*time.Millisecond {
		t.Fatalf("max latency %v includes the time after Responded", res.Max)
	}
}

func TestMaxIterationsBoundsTheMeasuredWindowAndWarmUpIsNotCounted(t *testing.T) {
	s := &fake{do: func(ctx context.Context, n int64) error {
		time.Sleep(time.Millisecond)
		return nil
	}}
	res, err := Run(context.Background(), s, Options{Workers: 3, WarmUp: 100 * time.Millisecond, MaxIterations: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Iterations != 50 {
		t.Fatalf("iterations = %d, want exactly 50", res.Iterations)
	}
	if calls := s.calls.Load(); calls <= 50+3 {
		t.Fatalf("Do was called %d times: the warm-up did not run", calls)
	}
	if s.setups.Load() != 1 {
		t.Fatalf("Setup ran %d times", s.setups.Load())
	}
	if res.Duration >= res.WarmUp+time.Second || !res.StartedAt.After(time.Now().Add(-time.Minute)) {
		t.Fatalf("window %v starting %v", res.Duration, res.StartedAt)
	}
}

func TestDurationBoundsTheRun(t *testing.T) {
	s := &fake{do: func(ctx context.Context, n int64) error { time.Sleep(time.Millisecond); return nil }}
	begin := time.Now()
	res, err := Run(context.Background(), s, Options{Workers: 2, WarmUp: 50 * time.Millisecond, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 250*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the run took %v", took)
	}
	if res.Duration < 200*time.Millisecond || res.Iterations == 0 || res.Iterations >= s.calls.Load() {
		t.Fatalf("window %v, %d iterations of %d calls", res.Duration, res.Iterations, s.calls.Load())
	}
}

func TestFailuresAreCountedByKindWarmUpIncluded(t *testing.T) {
	transport := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/token", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	s := &fake{do: func(ctx context.Context, n int64) error {
		switch n % 10 {
		case 1:
			return Fail("status", "got 500, want 200")
		case 2:
			return transport
		case 3:
			return context.DeadlineExceeded
		case 4:
			return errors.New("something else")
		case 5:
			return &url.Error{Op: "Get", URL: "http://127.0.0.1/x", Err: context.DeadlineExceeded}
		}
		return nil
	}}
	res, err := Run(context.Background(), s, Options{Workers: 4, MaxIterations: 100})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"status": 10, "transport": 10, "context": 20, "error": 10}
	if len(res.Errors) != len(want) {
		t.Fatalf("errors %v, want %v", res.Errors, want)
	}
	for k, n := range want {
		if res.Errors[k] != n {
			t.Errorf("errors[%s] = %d, want %d", k, res.Errors[k], n)
		}
	}
	if res.Iterations != 50 || res.Failures() != 50 {
		t.Errorf("iterations %d, failures %d", res.Iterations, res.Failures())
	}
	if res.FirstErrors["status"] != "got 500, want 200" || !strings.Contains(res.FirstErrors["transport"], "connection refused") {
		t.Errorf("first errors %v", res.FirstErrors)
	}

	// A failure in the warm-up counts too.
	s = &fake{do: func(ctx context.Context, n int64) error {
		if n == 1 {
			return Fail("token_format", "no access_token")
		}
		return nil
	}}
	res, err = Run(context.Background(), s, Options{Workers: 1, WarmUp: 30 * time.Millisecond, MaxIterations: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors["token_format"] != 1 || res.Iterations != 5 {
		t.Fatalf("a warm-up failure: errors %v, iterations %d", res.Errors, res.Iterations)
	}
	if table := res.Table(); !strings.Contains(table, "token_format: 1 (first: no access_token)") {
		t.Fatalf("the table does not show the failure:\n%s", table)
	}
}

func TestRateCapsIterationsPerSecond(t *testing.T) {
	s := &fake{}
	res, err := Run(context.Background(), s, Options{Workers: 4, Duration: 500 * time.Millisecond, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	// 200/s for 0.5 s is 100; a free-running no-op would do millions.
	if res.Iterations < 50 || res.Iterations > 150 {
		t.Fatalf("%d iterations at 200/s over %v", res.Iterations, res.Duration)
	}
	if res.Throughput < 100 || res.Throughput > 300 {
		t.Fatalf("throughput %.1f/s with a 200/s cap", res.Throughput)
	}
}

func TestBadOptionsAndFailedSetupRunNothing(t *testing.T) {
	for name, o := range map[string]Options{
		"no workers":            {Duration: time.Second},
		"no bound":              {Workers: 1},
		"a negative duration":   {Workers: 1, Duration: -time.Second},
		"a negative warm-up":    {Workers: 1, Duration: time.Second, WarmUp: -1},
		"a negative maximum":    {Workers: 1, MaxIterations: -1},
		"a negative rate":       {Workers: 1, Duration: time.Second, Rate: -5},
		"a negative server PID": {Workers: 1, Duration: time.Second, ServerPID: -1},
	} {
		t.Run(name, func(t *testing.T) {
			s := &fake{}
			if _, err := Run(context.Background(), s, o); !errors.Is(err, ErrOptions) {
				t.Fatalf("err = %v, want ErrOptions", err)
			}
			if s.setups.Load() != 0 || s.calls.Load() != 0 {
				t.Fatal("the scenario ran")
			}
		})
	}
	s := &fake{setupErr: errors.New("discovery: 404")}
	if _, err := Run(context.Background(), s, Options{Workers: 1, MaxIterations: 1}); !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), "discovery: 404") {
		t.Fatalf("err = %v, want ErrSetup with the cause", err)
	}
	if s.calls.Load() != 0 {
		t.Fatal("Do ran after a failed Setup")
	}
}

func TestAnInterruptedRunSaysSoAndCountsNoFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &fake{do: func(ctx context.Context, n int64) error {
		if n == 20 {
			cancel()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			return nil
		}
	}}
	res, err := Run(ctx, s, Options{Workers: 2, Duration: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res.Failures() != 0 || res.Iterations == 0 {
		t.Fatalf("errors %v, iterations %d", res.Errors, res.Iterations)
	}
}

func TestServerFiguresComeFromProc(t *testing.T) {
	if hz, ok := auxvClockTicks(); !ok || hz == 0 {
		t.Fatalf("AT_CLKTCK not found in /proc/self/auxv (%d)", hz)
	}
	// The test process is its own "server": it burns CPU in Do.
	s := &fake{do: func(ctx context.Context, n int64) error {
		x := 0
		for i := range 200_000 {
			x += i * i
		}
		_ = x
		return nil
	}}
	res, err := Run(context.Background(), s, Options{Workers: 2, Duration: 300 * time.Millisecond, ServerPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	// Two busy workers for 0.3 s: well above one 10 ms tick, and not more
	// than the wall time times the CPUs.
	limit := res.Duration.Seconds()*float64(numCPU()) + 0.05
	if res.ServerCPUSeconds < 0.05 || res.ServerCPUSeconds > limit {
		t.Fatalf("server CPU %.3f s over %v", res.ServerCPUSeconds, res.Duration)
	}
	if res.PerServerCPUSecond <= 0 || res.ClientCPUSeconds <= 0 {
		t.Fatalf("per CPU-second %v, client CPU %v", res.PerServerCPUSecond, res.ClientCPUSeconds)
	}
	if res.ServerPeakRSSBytes < 1<<20 || res.ServerEndRSSBytes < 1<<20 || res.ServerSampledPeakRSSBytes < res.ServerEndRSSBytes ||
		res.ServerPeakRSSBytes < res.ServerSampledPeakRSSBytes {
		t.Fatalf("RSS: VmHWM %d, sampled peak %d, end %d", res.ServerPeakRSSBytes, res.ServerSampledPeakRSSBytes, res.ServerEndRSSBytes)
	}
	if !strings.Contains(res.Table(), "per server CPU-second") {
		t.Fatalf("table:\n%s", res.Table())
	}

	// A process that does not exist stops the run before Setup.
	missing := &fake{}
	if _, err := Run(context.Background(), missing, Options{Workers: 1, MaxIterations: 1, ServerPID: 1 << 30}); !errors.Is(err, ErrProcess) {
		t.Fatalf("err = %v, want ErrProcess", err)
	}
	if missing.setups.Load() != 0 {
		t.Fatal("Setup ran without a server process")
	}
}

func TestProcStatParsingSurvivesOddCommandNames(t *testing.T) {
	// The command name may hold spaces and parentheses; fields are counted
	// after the last ')'. Here through the real file of this process.
	cpu, err := procCPUSeconds(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("cpu %v, %v", cpu, err)
	}
	peak, now, err := procMemory(os.Getpid())
	if err != nil || peak <= 0 || now <= 0 || peak < now {
		t.Fatalf("VmHWM %d VmRSS %d: %v", peak, now, err)
	}
}

func TestTheClientRefusesNonLoopbackAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	port := ln.Addr().(*net.TCPAddr).Port
	external := nonLoopbackIP(t)

	get := func(c *http.Client, host string) error {
		resp, err := c.Get("http://" + net.JoinHostPort(host, itoa(port)) + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(NewHTTPClient(1), "127.0.0.1"); err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	if err := get(NewHTTPClient(1), "localhost"); err != nil {
		t.Fatalf("localhost refused: %v", err)
	}
	if err := get(NewHTTPClient(1), external); !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("%s: err = %v, want ErrNotLoopback", external, err)
	}
	if err := get(newHTTPClient(1, true), external); err != nil {
		t.Fatalf("%s with AllowNonLoopback: %v", external, err)
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

func TestJSONIsOneLineWithTheFigures(t *testing.T) {
	r := Result{Scenario: "x", Workers: 2, Duration: 2 * time.Second, Iterations: 10, Throughput: 5,
		P50: time.Millisecond, P99: 3 * time.Millisecond, Errors: map[string]int64{"status": 2},
		FirstErrors: map[string]string{"status": "got 500"}, ServerPID: 7, ServerCPUSeconds: 0.5, PerServerCPUSecond: 20}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\n") {
		t.Fatalf("not one line: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["scenario"] != "x" || m["iterations"] != 10.0 || m["failures"] != 2.0 || m["p50_s"] != 0.001 ||
		m["per_server_cpu_s"] != 20.0 || m["errors"].(map[string]any)["status"] != 2.0 {
		t.Fatalf("JSON: %s", b)
	}
	empty, _ := Result{}.JSON()
	if !strings.Contains(string(empty), `"errors":{}`) {
		t.Fatalf("a result without errors: %s", empty)
	}
}

func TestRegistryBuildsScenariosByName(t *testing.T) {
	restoreRegistry(t)
	var flagValue string
	RegisterFlags(func(fs *flag.FlagSet) { fs.StringVar(&flagValue, "test-registry-flag", "", "") })
	Register("test-registry", "a test scenario", func() (Scenario, error) {
		if flagValue == "" {
			return nil, errors.New("-test-registry-flag is required")
		}
		return &fake{}, nil
	})
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	DefineFlags(fs)
	if _, err := New("test-registry"); err == nil || !strings.Contains(err.Error(), "-test-registry-flag is required") {
		t.Fatalf("missing flag: %v", err)
	}
	if err := fs.Parse([]string{"-test-registry-flag", "v"}); err != nil {
		t.Fatal(err)
	}
	if s, err := New("test-registry"); err != nil || s.Name() != "fake" {
		t.Fatalf("New: %v, %v", s, err)
	}
	if _, err := New("no-such"); !errors.Is(err, ErrUnknownScenario) || !strings.Contains(err.Error(), "test-registry") {
		t.Fatalf("unknown: %v", err)
	}
	found := false
	for _, r := range Registered() {
		found = found || (r.Name == "test-registry" && r.Summary == "a test scenario")
	}
	if !found {
		t.Fatal("Registered does not list the scenario")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	Register("test-registry", "again", func() (Scenario, error) { return nil, nil })
}
