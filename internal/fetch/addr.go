package fetch

import (
	"fmt"
	"net/netip"
	"syscall"
)

// blockedRange is an address range outbound fetches may not reach.
type blockedRange struct {
	prefix netip.Prefix
	what   string
}

// The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and
// updates), the entries that are not globally reachable, plus multicast.
// 169.254.169.254, the cloud metadata service, is link-local.
var (
	blocked4 = []blockedRange{
		{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (unspecified)`},
		{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
		{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT, RFC 6598)"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast"},
	}
	blocked6 = []blockedRange{
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated)"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
		{netip.MustParsePrefix("100::/64"), "discard-only"},
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments (Teredo included)"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
		{netip.MustParsePrefix("fc00::/7"), "unique local (RFC 4193)"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
	// IPv6 forms that carry an IPv4 address the packet ends up at: the
	// embedded address is checked.
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: bits 16–47
)

// blockedReason says why addr may not be reached, or "" if it may.
func blockedReason(addr netip.Addr) string {
	addr = addr.WithZone("")
	if addr.Is4In6() {
		if why := blockedReason(addr.Unmap()); why != "" {
			return why + ", IPv4-mapped"
		}
		return ""
	}
	if addr.Is4() {
		for _, r := range blocked4 {
			if r.prefix.Contains(addr) {
				return r.what
			}
		}
		return ""
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		if why := blockedReason(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
			return why + ", via NAT64"
		}
		return ""
	case sixToFour.Contains(addr):
		if why := blockedReason(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return why + ", via 6to4"
		}
		return ""
	}
	for _, r := range blocked6 {
		if r.prefix.Contains(addr) {
			return r.what
		}
	}
	return ""
}

// checkDialAddress is the net.Dialer.Control hook: it runs after DNS
// resolution, for every address the dialer is about to connect to, so it
// sees what a name really resolved to at that moment (DNS rebinding
// included).
func checkDialAddress(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check the address %q", ErrForbiddenURL, address)
	}
	if why := blockedReason(ap.Addr()); why != "" {
		return fmt.Errorf("%w: the host resolved to %s, which is %s", ErrForbiddenURL, ap.Addr(), why)
	}
	return nil
}
