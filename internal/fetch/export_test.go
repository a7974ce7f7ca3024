package fetch

import (
	"net/netip"
	"time"
)

// SetNow replaces the Fetcher's clock (cache expiry).
func SetNow(f *Fetcher, now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// Joined reports how many Gets are sharing the in-flight request for url and
// accept (0 if none is in flight).
func Joined(f *Fetcher, url, accept string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.inflight[accept+"\x00"+url]; ok {
		return c.joined
	}
	return 0
}

// BlockedReason exposes the address policy.
func BlockedReason(addr string) string { return blockedReason(netip.MustParseAddr(addr)) }

// CheckDialAddress is the dial-time hook.
var CheckDialAddress = checkDialAddress
