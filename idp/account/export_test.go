package account

import "time"

// SetNow makes s read the clock from now (tests only).
func SetNow(s *Store, now func() time.Time) { s.now = now }

// Internals the external tests check directly.
var (
	NormalizeRecoveryCode = normalizeRecoveryCode
	RandomRecoveryCode    = randomRecoveryCode
	HashRecoveryCode      = hashRecoveryCode
)

const RecoveryAlphabet = recoveryAlphabet
