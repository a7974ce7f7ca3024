package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
)

// Scenario is one kind of request sequence the generator repeats. An
// implementation checks every response it gets — status, content type,
// token format, signatures — and returns a *Failure for anything it did
// not expect: throughput with errors is not throughput.
type Scenario interface {
	// Name is the scenario's name as given on the command line.
	Name() string
	// Setup runs once before the run (discovery, keys, initial tokens).
	Setup(ctx context.Context, env *Env) error
	// Do performs one iteration for a worker. It must be safe to call
	// from many workers at once, each with its own Worker.
	Do(ctx context.Context, w *Worker) error
}

// Env is what Setup gets.
type Env struct {
	// Client is an HTTP client with keep-alive connections sized for the
	// run's workers; scenarios use it (or Worker.Client) for every call.
	Client *http.Client
	// Workers is how many workers will call Do.
	Workers int
}

// Worker is one concurrent caller.
type Worker struct {
	ID     int
	Client *http.Client
	Rand   *rand.Rand
	// State is the scenario's own per-worker state (set it in Do on first
	// use, e.g. a refresh token or a resident).
	State any
}

// Failure is an unexpected response. Kind groups failures in the report
// (for example "status", "token_format", "signature", "transport").
type Failure struct {
	Kind   string
	Detail string
}

func (f *Failure) Error() string { return f.Kind + ": " + f.Detail }

// Fail returns a *Failure.
func Fail(kind, format string, args ...any) *Failure {
	return &Failure{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
