package loadgen

import (
	"maps"
	"runtime"
	"slices"
	"strconv"
	"time"
)

func slicesSort(s []time.Duration) { slices.Sort(s) }
func numCPU() int                  { return runtime.NumCPU() }
func itoa(i int) string            { return strconv.Itoa(i) }

// restoreRegistry puts the registry back as it was when the test ends.
func restoreRegistry(t interface{ Cleanup(func()) }) {
	registry.Lock()
	scenarios := maps.Clone(registry.scenarios)
	flags := slices.Clone(registry.flags)
	registry.Unlock()
	t.Cleanup(func() {
		registry.Lock()
		registry.scenarios, registry.flags = scenarios, flags
		registry.Unlock()
	})
}
