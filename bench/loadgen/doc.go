// Package loadgen drives a running server over HTTP and measures it: N
// concurrent workers on kept-alive loopback connections repeat a Scenario
// through a warm-up and a measured window, every response is checked, and
// the result gives throughput, latency percentiles, failures by kind, and the
// server's CPU time and memory read from /proc/<pid> — so figures can be
// stated per server CPU-second (DESIGN.md "Performance").
//
// The standard OAuth 2.0 / OpenID Connect scenarios live in bench/oauth and
// know nothing of eidp, so the same tool can measure another server side by
// side; eidp-specific flows (a resident's login, a vault release) live in
// bench/eidpflow. The program is bench/cmd/loadgen.
//
// # Writing a scenario
//
// A Scenario (scenario.go, the fixed contract) has Name, Setup (once, before
// the run: discovery, keys, tokens) and Do (one iteration, called by many
// workers at once, each with its own *Worker; per-worker state goes in
// Worker.State). Do checks everything it receives — status, content type,
// token format, signatures — and returns a *Failure (Fail(kind, …)) for
// anything unexpected; an iteration that returns nil is a success. Use
// Worker.Client (or Env.Client) for every request: it is the client Run
// sized for the workers, and it refuses connections to non-loopback
// addresses unless Options.AllowNonLoopback is set, and does not follow
// redirects (a scenario reads Location itself: a redirect is a response to
// check like any other). It keeps cookies nowhere: a flow that needs a
// cookie jar makes its own per worker (http.Client{Transport:
// w.Client.Transport, Jar: jar, CheckRedirect: w.Client.CheckRedirect}).
// Never put tokens or
// secrets in a Failure's Detail: the first detail of each kind is printed.
//
// Two optional extras, found by type assertion:
//
//   - Call Responded(ctx) in Do once the last response of the iteration has
//     been read and before checking signatures: the iteration's latency then
//     ends there, so client-side verification does not inflate the server's
//     latency figures. Without it, latency is the whole of Do.
//   - Implement Noter (Notes() []string) to add lines to the result, for
//     example how many access tokens were JWTs (signature verified) and how
//     many were opaque.
//
// # Registering scenarios and flags (for bench/oauth, bench/eidpflow, …)
//
// The command knows scenarios only by name. A package registers its own from
// init, and the command imports it for that side effect:
//
//	func init() {
//		loadgen.RegisterFlags(func(fs *flag.FlagSet) {
//			fs.StringVar(&flagResident, "resident", "", "…")
//		})
//		loadgen.Register("login-flow", "a resident logs in: authorize, passkey, code, token, userinfo",
//			func() (loadgen.Scenario, error) { return NewLoginFlow(flagConfig()) })
//	}
//
//	// bench/cmd/loadgen/main.go
//	import _ "eidp/bench/eidpflow"
//
// The API:
//
//	type Factory func() (Scenario, error)
//	func Register(name, summary string, f Factory)     // panics on a duplicate name
//	func RegisterFlags(define func(fs *flag.FlagSet))  // once per package
//	func DefineFlags(fs *flag.FlagSet)                 // the command, before Parse
//	func Registered() []Registration                   // sorted by name
//	func New(name string) (Scenario, error)            // ErrUnknownScenario
//
// Flag names are global to the command. bench/oauth defines -issuer,
// -token-endpoint, -introspection-endpoint, -userinfo-endpoint, -jwks-uri,
// -client-id, -client-secret, -key, -key-id, -scope, -token, -token-file,
// -refresh-token and -refresh-token-file; another package that needs the
// same values calls oauth.FlagConfig() instead of defining them again. The
// command itself owns -scenario, -list, -workers, -warmup, -duration, -max,
// -rate, -server-pid, -json and -allow-remote.
//
// # How a run is measured
//
// Run calls Setup, then starts Options.Workers workers. Closed loop: each
// worker runs iterations back to back; with Options.Rate > 0, a token bucket
// shared by the workers (burst 1, no debt carried: a slow server is not
// later hit with a catch-up burst) starts at most Rate iterations per
// second, so latency can be measured at a chosen fraction of peak
// throughput. Latency is measured from an iteration's actual start, not its
// scheduled one.
//
// Iterations that start during the warm-up are run and checked but not
// counted. Those that start in the measured window are counted until
// Duration has passed or MaxIterations have started (either bound may be
// zero, not both); in-flight iterations are then finished, and the window
// ends when the last worker stops — that is Result.Duration. Iterations are
// the measured iterations that succeeded; failures, warm-up included, are
// counted in Errors by Failure.Kind ("transport" for network errors,
// "context" for cancellations and timeouts, "error" for any other error a
// scenario returns) and a run with any failure is a failed run. Latency
// samples are kept exactly (one slice per worker, merged and sorted at the
// end; nearest-rank percentiles): 8 bytes per iteration.
//
// # Server figures (Linux)
//
// With Options.ServerPID, Run reads /proc/<pid>/stat at the start and the end
// of the measured window: utime + stime, in clock ticks, converted with the
// tick rate read from the auxiliary vector (AT_CLKTCK in /proc/self/auxv,
// what sysconf(_SC_CLK_TCK) returns; 100 if it cannot be read). The
// resolution is one tick (10 ms), so short runs of an idle server give
// coarse figures. Memory, from /proc/<pid>/status: ServerPeakRSSBytes is
// VmHWM, the process's peak resident set over its whole lifetime (start-up
// included); ServerEndRSSBytes is VmRSS at the end; ServerSampledPeakRSSBytes
// is the largest VmRSS seen by sampling every 100 ms during the run. Only
// the given process is counted: a database server in another process (for
// example PostgreSQL) is not. ClientCPUSeconds is this process's own CPU
// time over the window (getrusage), useful when client and server share the
// cores.
package loadgen
