// Package fetch is the one way eidp fetches a document from a URL that a
// client or an operator registered: a client's jwks_uri, its
// sector_identifier_uri, and (later) request objects by request_uri.
//
// Such URLs are attacker-chosen: anyone who can register or update a client
// could point one at the cloud metadata service (169.254.169.254), at a
// database port on localhost, or at an admin page inside the city network,
// and make the IdP fetch it on their behalf (server-side request forgery).
// DESIGN.md, "Security requirements", asks that outbound fetches be
// SSRF-safe: https only in production, no private addresses unless allowed,
// size and time bounded, cached. This package does that in one place:
//
//   - the URL must be https (http only with Options.AllowHTTP, for
//     development), carry no user info and no fragment, and name a host that
//     is not an IP literal in a blocked range;
//   - every address the dialer actually connects to is checked again in
//     net.Dialer.Control, after DNS resolution, so a name that resolves (or
//     re-resolves, DNS rebinding) to a private address is refused too;
//     blocked are loopback, RFC 1918 and RFC 4193 private, link-local,
//     CGNAT, unspecified, multicast, the other non-global IANA special-purpose
//     ranges, and IPv4 addresses embedded in IPv6 forms (IPv4-mapped, NAT64,
//     6to4) when the embedded address is blocked;
//   - no proxy from the environment is used (the check would then see only
//     the proxy's address), no redirects are followed unless allowed (and each
//     target is checked the same way), only 200 is accepted, and bodies are
//     bounded in size and the whole exchange in time;
//   - successful responses are cached (Cache-Control max-age honoured within
//     [1 min, 24 h]), and concurrent fetches of one URL share one request, so
//     a burst of logins of one client costs the client's server one request.
//
// Errors wrap ErrForbiddenURL, ErrTooLarge, ErrStatus, ErrTimeout,
// ErrContentType or ErrInvalidJSON (or a connection or TLS failure) and name
// the URL (user info redacted) but never contain
// response content: they may reach logs, and a refused fetch must not become
// a way to read an internal page.
package fetch
