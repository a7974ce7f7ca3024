package testenv

import (
	"sync"
	"testing"
	"time"

	"eidp/internal/db"
)

// EachEngine runs test once per database engine, as subtests named after
// the engine ("sqlite", "postgres"), each on a fresh migrated database: the
// shape of every store conformance test.
func EachEngine(t *testing.T, test func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, e := range Databases(t) {
		t.Run(string(e.Engine), func(t *testing.T) {
			test(t, OpenDB(t, e.URL))
		})
	}
}

// Clock is a settable time source for code under test (expiry, windows,
// lockouts), safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass c.Now where code takes a func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (backwards if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
