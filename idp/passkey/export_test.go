package passkey

import "time"

// SetClock makes s read the time from now, so that tests can let challenges
// expire without waiting.
func SetClock(s *Service, now func() time.Time) { s.now = now }
