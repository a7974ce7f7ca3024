package loadgen

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Result is what a run measured. Throughput, latency and Iterations cover
// the measured window only (after the warm-up); Errors cover the whole run.
type Result struct {
	Scenario      string
	Workers       int
	WarmUp        time.Duration
	Rate          float64 // the cap asked for (0: none)
	MaxIterations int64   // the bound asked for (0: none)
	StartedAt     time.Time
	// Duration is the measured window: from the end of the warm-up until
	// the last worker stopped.
	Duration time.Duration
	// Iterations is the number of measured iterations that succeeded.
	Iterations int64
	// Errors counts failed iterations by Failure.Kind, warm-up included;
	// FirstErrors keeps the first detail of each kind.
	Errors      map[string]int64
	FirstErrors map[string]string
	// Throughput is Iterations per second of Duration.
	Throughput         float64
	P50, P95, P99, Max time.Duration

	ServerPID int
	// ServerCPUSeconds is the server's utime + stime over the window.
	ServerCPUSeconds float64
	// PerServerCPUSecond is Iterations / ServerCPUSeconds.
	PerServerCPUSecond float64
	// ServerPeakRSSBytes is VmHWM at the end: the server's peak resident
	// set over its whole life, start-up included.
	ServerPeakRSSBytes int64
	// ServerEndRSSBytes is VmRSS at the end of the run.
	ServerEndRSSBytes int64
	// ServerSampledPeakRSSBytes is the largest VmRSS sampled (every 100 ms)
	// during the run.
	ServerSampledPeakRSSBytes int64
	// ClientCPUSeconds is the load generator's own CPU time over the window.
	ClientCPUSeconds float64
	// Notes are the scenario's remarks (Noter).
	Notes []string
}

// Failures is the number of failed iterations.
func (r Result) Failures() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Table is the result for people.
func (r Result) Table() string {
	var b strings.Builder
	row := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "%-16s %s\n", name, fmt.Sprintf(format, args...))
	}
	row("scenario", "%s", r.Scenario)
	limits := "closed loop"
	if r.Rate > 0 {
		limits = fmt.Sprintf("rate cap %.6g/s", r.Rate)
	}
	if r.MaxIterations > 0 {
		limits += fmt.Sprintf(", at most %d iterations", r.MaxIterations)
	}
	row("workers", "%d (%s)", r.Workers, limits)
	row("window", "%s after %s warm-up, from %s", r.Duration.Round(time.Millisecond), r.WarmUp, r.StartedAt.UTC().Format(time.RFC3339))
	row("iterations", "%d succeeded, %d failed (whole run)", r.Iterations, r.Failures())
	row("throughput", "%.1f /s", r.Throughput)
	row("latency", "p50 %s   p95 %s   p99 %s   max %s", fmtDur(r.P50), fmtDur(r.P95), fmtDur(r.P99), fmtDur(r.Max))
	if r.ServerPID != 0 {
		row("server CPU", "%.2f s (pid %d) → %.1f iterations per server CPU-second", r.ServerCPUSeconds, r.ServerPID, r.PerServerCPUSecond)
		row("server memory", "peak %s (VmHWM, lifetime), %s during the run (VmRSS sampled), %s at the end (VmRSS)",
			fmtBytes(r.ServerPeakRSSBytes), fmtBytes(r.ServerSampledPeakRSSBytes), fmtBytes(r.ServerEndRSSBytes))
	}
	row("client CPU", "%.2f s", r.ClientCPUSeconds)
	if len(r.Errors) == 0 {
		row("errors", "none")
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		row("errors", "%s: %d (first: %s)", k, r.Errors[k], r.FirstErrors[k])
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0fµs", float64(d)/1e3)
}

func fmtBytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// jsonResult is the JSON line: durations in seconds, names in snake case.
type jsonResult struct {
	Scenario                  string            `json:"scenario"`
	Workers                   int               `json:"workers"`
	WarmUpSeconds             float64           `json:"warmup_s"`
	Rate                      float64           `json:"rate,omitempty"`
	MaxIterations             int64             `json:"max_iterations,omitempty"`
	StartedAt                 time.Time         `json:"started_at"`
	DurationSeconds           float64           `json:"duration_s"`
	Iterations                int64             `json:"iterations"`
	Failures                  int64             `json:"failures"`
	Errors                    map[string]int64  `json:"errors"`
	FirstErrors               map[string]string `json:"first_errors,omitempty"`
	Throughput                float64           `json:"throughput_per_s"`
	P50Seconds                float64           `json:"p50_s"`
	P95Seconds                float64           `json:"p95_s"`
	P99Seconds                float64           `json:"p99_s"`
	MaxSeconds                float64           `json:"max_s"`
	ServerPID                 int               `json:"server_pid,omitempty"`
	ServerCPUSeconds          float64           `json:"server_cpu_s,omitempty"`
	PerServerCPUSecond        float64           `json:"per_server_cpu_s,omitempty"`
	ServerPeakRSSBytes        int64             `json:"server_vmhwm_bytes,omitempty"`
	ServerSampledPeakRSSBytes int64             `json:"server_sampled_peak_vmrss_bytes,omitempty"`
	ServerEndRSSBytes         int64             `json:"server_end_vmrss_bytes,omitempty"`
	ClientCPUSeconds          float64           `json:"client_cpu_s"`
	Notes                     []string          `json:"notes,omitempty"`
}

// JSON is the result as one line of JSON (no trailing newline), for a JSON
// Lines file that collects runs.
func (r Result) JSON() ([]byte, error) {
	errs := r.Errors
	if errs == nil {
		errs = map[string]int64{}
	}
	return json.Marshal(jsonResult{
		Scenario: r.Scenario, Workers: r.Workers, WarmUpSeconds: r.WarmUp.Seconds(), Rate: r.Rate,
		MaxIterations: r.MaxIterations, StartedAt: r.StartedAt.UTC(), DurationSeconds: r.Duration.Seconds(),
		Iterations: r.Iterations, Failures: r.Failures(), Errors: errs, FirstErrors: r.FirstErrors,
		Throughput: r.Throughput, P50Seconds: r.P50.Seconds(), P95Seconds: r.P95.Seconds(),
		P99Seconds: r.P99.Seconds(), MaxSeconds: r.Max.Seconds(), ServerPID: r.ServerPID,
		ServerCPUSeconds: r.ServerCPUSeconds, PerServerCPUSecond: r.PerServerCPUSecond,
		ServerPeakRSSBytes: r.ServerPeakRSSBytes, ServerSampledPeakRSSBytes: r.ServerSampledPeakRSSBytes,
		ServerEndRSSBytes: r.ServerEndRSSBytes, ClientCPUSeconds: r.ClientCPUSeconds, Notes: r.Notes,
	})
}
