package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a comma-separated list of IP addresses and CIDR
// prefixes (e.g. "10.0.0.0/8, 192.0.2.7").
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// TrustedProxies makes r.RemoteAddr the real client when the request came
// through proxies we trust: if the peer is one of them, the client is the
// right-most X-Forwarded-For address that is not (each proxy appends the
// address it saw, so addresses left of the first untrusted one could be
// forged by the client). With no trusted proxies the header is ignored —
// every limit keyed by client address depends on this being right.
func TrustedProxies(trusted []netip.Prefix) Middleware {
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		if len(trusted) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer, err := netip.ParseAddr(ClientAddr(r))
			if err != nil || !isTrusted(peer) {
				next.ServeHTTP(w, r)
				return
			}
			hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
			client := peer
			for i := len(hops) - 1; i >= 0; i-- {
				a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
				if err != nil {
					break // a malformed hop: trust nothing left of it
				}
				client = a.Unmap()
				if !isTrusted(client) {
					break
				}
			}
			r2 := r.Clone(r.Context())
			r2.RemoteAddr = net.JoinHostPort(client.String(), "0")
			next.ServeHTTP(w, r2)
		})
	}
}
