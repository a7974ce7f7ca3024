package accesslog

import "time"

// SetNow makes l read the clock from now. Tests only.
func SetNow(l *Log, now func() time.Time) { l.now = now }

// Hash exposes the entry hash, for the spec vector test.
func Hash(e Entry) string { return entryHash(e) }
