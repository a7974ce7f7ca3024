package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOptions is returned by Run for options that cannot describe a run.
var ErrOptions = errors.New("loadgen: invalid options")

// ErrSetup wraps the error of a scenario's Setup.
var ErrSetup = errors.New("loadgen: scenario setup failed")

// Options describe a run.
type Options struct {
	Workers int
	// WarmUp is run and checked but not counted.
	WarmUp time.Duration
	// Duration is the measured window (0: bounded by MaxIterations only).
	Duration time.Duration
	// MaxIterations bounds the measured iterations started (0: no bound).
	MaxIterations int64
	// Rate caps iterations started per second across all workers
	// (0: as fast as the workers go).
	Rate float64
	// ServerPID is the server process whose CPU time and memory are read
	// from /proc (0: no server figures).
	ServerPID int
	// AllowNonLoopback lets the HTTP client connect to addresses that are
	// not loopback. Off by default: a load test aimed at a shared or
	// production host by mistake is an attack.
	AllowNonLoopback bool
}

func (o Options) validate() error {
	switch {
	case o.Workers < 1:
		return fmt.Errorf("%w: workers must be at least 1, not %d", ErrOptions, o.Workers)
	case o.WarmUp < 0 || o.Duration < 0 || o.MaxIterations < 0:
		return fmt.Errorf("%w: warm-up, duration and max iterations cannot be negative", ErrOptions)
	case o.Duration == 0 && o.MaxIterations == 0:
		return fmt.Errorf("%w: give a duration, a maximum number of iterations, or both", ErrOptions)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("%w: rate must be a positive number of iterations per second, or 0 for no limit", ErrOptions)
	case o.ServerPID < 0:
		return fmt.Errorf("%w: server PID cannot be negative", ErrOptions)
	}
	return nil
}

// Noter is implemented by scenarios that have something to add to the
// result once the run is over (for example how many tokens were opaque).
type Noter interface {
	Notes() []string
}

type clockKey struct{}

// iterClock is the end of an iteration's latency, when the scenario marks it.
type iterClock struct{ end time.Time }

// Responded marks the end of the current iteration's latency: call it in Do
// once the last response has been read, before verifying its signatures. A
// later call moves the mark; outside Run it does nothing.
func Responded(ctx context.Context) {
	if c, ok := ctx.Value(clockKey{}).(*iterClock); ok {
		c.end = time.Now()
	}
}

// worker's own tallies, merged after the run.
type tally struct {
	samples  []time.Duration
	errors   map[string]int64
	firstErr map[string]string
}

func (t *tally) fail(err error) {
	kind, detail := classify(err)
	if t.errors == nil {
		t.errors, t.firstErr = map[string]int64{}, map[string]string{}
	}
	if t.errors[kind] == 0 {
		t.firstErr[kind] = detail
	}
	t.errors[kind]++
}

// classify groups an error from Do by kind.
func classify(err error) (kind, detail string) {
	var f *Failure
	if errors.As(err, &f) {
		return f.Kind, f.Detail
	}
	var ue *url.Error
	var ne net.Error
	switch {
	// Before net.Error: context.DeadlineExceeded is one too.
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "context", err.Error()
	case errors.As(err, &ue), errors.As(err, &ne):
		return "transport", err.Error()
	}
	return "error", err.Error()
}

// pacer is a token bucket of burst 1 shared by the workers.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

// slot returns when the caller may start its next iteration.
func (p *pacer) slot() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.next
	if now := time.Now(); t.Before(now) {
		t = now // no debt: idle time is not spent later in a burst
	}
	p.next = t.Add(p.interval)
	return t
}

// Run runs s with opts and returns what it measured. A run in which any
// iteration failed still returns a Result (with Errors) and a nil error: the
// caller decides; the command exits non-zero. Run returns an error for bad
// options, a failed Setup, an unreadable server process, or ctx ending
// before the run did (with the partial Result).
func Run(ctx context.Context, s Scenario, opts Options) (Result, error) {
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	var proc *procWatch
	if opts.ServerPID != 0 {
		var err error
		if proc, err = watchProcess(opts.ServerPID); err != nil {
			return Result{}, err
		}
		defer proc.stop()
	}
	client := newHTTPClient(opts.Workers, opts.AllowNonLoopback)
	defer client.CloseIdleConnections()
	if err := s.Setup(ctx, &Env{Client: client, Workers: opts.Workers}); err != nil {
		return Result{}, fmt.Errorf("%w: %s: %w", ErrSetup, s.Name(), err)
	}

	res := Result{Scenario: s.Name(), Workers: opts.Workers, WarmUp: opts.WarmUp, Rate: opts.Rate,
		MaxIterations: opts.MaxIterations, ServerPID: opts.ServerPID, Errors: map[string]int64{}}
	start := time.Now()
	measureFrom := start.Add(opts.WarmUp)
	var until time.Time // zero: no time bound
	if opts.Duration > 0 {
		until = measureFrom.Add(opts.Duration)
	}
	var pace *pacer
	if opts.Rate > 0 {
		pace = &pacer{next: start, interval: time.Duration(float64(time.Second) / opts.Rate)}
	}

	// The window's start figures are taken when the warm-up ends, by this
	// goroutine, while the workers run.
	type mark struct {
		at       time.Time
		cpu      float64
		client   float64
		procErr  error
		procRead bool
	}
	startMark := make(chan mark, 1)
	takeMark := func() mark {
		m := mark{at: time.Now(), client: selfCPUSeconds()}
		if proc != nil {
			m.cpu, m.procErr = proc.cpuSeconds()
			m.procRead = true
		}
		return m
	}
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if opts.WarmUp == 0 {
		startMark <- takeMark()
	} else {
		go func() {
			t := time.NewTimer(time.Until(measureFrom))
			defer t.Stop()
			select {
			case <-t.C:
			case <-runCtx.Done():
			}
			startMark <- takeMark()
		}()
	}

	var started atomic.Int64 // measured iterations started
	var stopped atomic.Bool  // MaxIterations reached
	tallies := make([]tally, opts.Workers)
	var wg sync.WaitGroup
	for i := range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &Worker{ID: i, Client: client, Rand: rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i)))}
			clock := &iterClock{}
			ictx := context.WithValue(runCtx, clockKey{}, clock)
			t := &tallies[i]
			for !stopped.Load() && runCtx.Err() == nil {
				if pace != nil {
					at := pace.slot()
					if !until.IsZero() && !at.Before(until) {
						return
					}
					if !sleepUntil(runCtx, at) {
						return
					}
				}
				begin := time.Now()
				if !until.IsZero() && !begin.Before(until) {
					return
				}
				measured := !begin.Before(measureFrom)
				if measured && opts.MaxIterations > 0 && started.Add(1) > opts.MaxIterations {
					stopped.Store(true)
					return
				}
				clock.end = time.Time{}
				err := s.Do(ictx, w)
				end := clock.end
				if end.IsZero() {
					end = time.Now()
				}
				switch {
				case err != nil && runCtx.Err() != nil:
					return // interrupted, not a server failure
				case err != nil:
					t.fail(err)
				case measured:
					t.samples = append(t.samples, end.Sub(begin))
				}
			}
		}()
	}
	wg.Wait()
	endMark := takeMark()
	cancelRun() // releases the start-mark goroutine if the run ended early
	first := <-startMark
	windowStart := measureFrom                                        // iterations counted are those begun since
	if first.at.After(endMark.at) || endMark.at.Before(measureFrom) { // the run ended in the warm-up
		first, windowStart = endMark, endMark.at
	}

	res.StartedAt = windowStart
	res.Duration = endMark.at.Sub(windowStart)
	var all []time.Duration
	for i := range tallies {
		all = append(all, tallies[i].samples...)
		for k, n := range tallies[i].errors {
			if res.Errors[k] == 0 {
				if res.FirstErrors == nil {
					res.FirstErrors = map[string]string{}
				}
				res.FirstErrors[k] = tallies[i].firstErr[k]
			}
			res.Errors[k] += n
		}
	}
	res.Iterations = int64(len(all))
	slices.Sort(all)
	res.P50, res.P95, res.P99 = percentile(all, 50), percentile(all, 95), percentile(all, 99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	if res.Duration > 0 {
		res.Throughput = float64(res.Iterations) / res.Duration.Seconds()
	}
	res.ClientCPUSeconds = math.Round((endMark.client-first.client)*1e6) / 1e6
	if n, ok := s.(Noter); ok {
		res.Notes = n.Notes()
	}

	var procErr error
	if proc != nil {
		procErr = errors.Join(first.procErr, endMark.procErr)
		if procErr == nil {
			// Rounded to the microsecond: ticks are 10 ms, the rest is float noise.
			res.ServerCPUSeconds = math.Round((endMark.cpu-first.cpu)*1e6) / 1e6
			if res.ServerCPUSeconds > 0 {
				res.PerServerCPUSecond = float64(res.Iterations) / res.ServerCPUSeconds
			}
			res.ServerPeakRSSBytes, res.ServerEndRSSBytes, procErr = proc.memory()
			res.ServerSampledPeakRSSBytes = max(proc.sampledPeak(), res.ServerEndRSSBytes)
		}
		if procErr != nil {
			procErr = fmt.Errorf("reading the server process %d (did it exit?): %w", opts.ServerPID, procErr)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, errors.Join(fmt.Errorf("loadgen: run interrupted: %w", err), procErr)
	}
	return res, procErr
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// percentile is the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
