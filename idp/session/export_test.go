package session

import "time"

// SetNow makes m read the clock from now. Tests only: expiry and the
// last-seen throttle are tested by moving this clock, not by sleeping.
func SetNow(m *Manager, now func() time.Time) { m.now = now }

var CleanUserAgent = cleanUserAgent
