package demo

import "time"

// SetNow replaces the handler's clock (flow and session expiry, ID token
// expiry checks).
func (h *Handler) SetNow(now func() time.Time) { h.now = now }
