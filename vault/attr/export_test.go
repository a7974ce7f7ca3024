package attr

import (
	"maps"
	"slices"
)

// MessageCodes returns every code that has a sentence, so that the tests
// can check their own list of codes is complete.
func MessageCodes() []string { return slices.Sorted(maps.Keys(messages)) }
