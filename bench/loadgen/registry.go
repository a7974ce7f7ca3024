package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownScenario is returned by New for a name nobody registered.
var ErrUnknownScenario = errors.New("loadgen: unknown scenario")

// Factory builds a scenario once the command line has been parsed. It reads
// the flag values its package bound in its RegisterFlags function and
// returns an error that names the missing or wrong flag.
type Factory func() (Scenario, error)

// Registration is one registered scenario.
type Registration struct {
	Name    string
	Summary string // one line for -list
	New     Factory
}

var registry = struct {
	sync.Mutex
	scenarios map[string]Registration
	flags     []func(*flag.FlagSet)
}{scenarios: map[string]Registration{}}

// Register adds a scenario under name (as given to -scenario). Call it from
// an init function. It panics on an empty name, a nil factory or a name
// registered twice, like database/sql.Register: these are programming
// errors.
func Register(name, summary string, f Factory) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" || f == nil {
		panic("loadgen: Register needs a name and a factory")
	}
	if _, dup := registry.scenarios[name]; dup {
		panic("loadgen: scenario " + name + " registered twice")
	}
	registry.scenarios[name] = Registration{Name: name, Summary: summary, New: f}
}

// RegisterFlags adds a function that defines a package's flags on the
// command's flag set. A package calls it once, from init, for all its
// scenarios together (flag names are global to the command: two packages
// defining the same name make DefineFlags panic).
func RegisterFlags(define func(fs *flag.FlagSet)) {
	registry.Lock()
	defer registry.Unlock()
	if define == nil {
		panic("loadgen: RegisterFlags needs a function")
	}
	registry.flags = append(registry.flags, define)
}

// DefineFlags calls every RegisterFlags function on fs, in registration
// order. The command calls it before fs.Parse.
func DefineFlags(fs *flag.FlagSet) {
	registry.Lock()
	defs := slices.Clone(registry.flags)
	registry.Unlock()
	for _, define := range defs {
		define(fs)
	}
}

// Registered returns the registered scenarios sorted by name.
func Registered() []Registration {
	registry.Lock()
	defer registry.Unlock()
	out := make([]Registration, 0, len(registry.scenarios))
	for _, r := range registry.scenarios {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New builds the scenario registered under name.
func New(name string) (Scenario, error) {
	registry.Lock()
	r, ok := registry.scenarios[name]
	registry.Unlock()
	if !ok {
		var names []string
		for _, r := range Registered() {
			names = append(names, r.Name)
		}
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknownScenario, name, strings.Join(names, ", "))
	}
	s, err := r.New()
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return s, nil
}
