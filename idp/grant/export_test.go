package grant

import "time"

// SetNow makes s read the clock from now. Tests only: expiry is tested by
// moving this clock, not by sleeping.
func SetNow(s *Store, now func() time.Time) { s.now = now }
