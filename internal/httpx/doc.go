// Package httpx is the HTTP plumbing every eidp endpoint shares: the server
// with its timeouts and graceful shutdown, and the middleware chain — request
// IDs, panic recovery, security headers, body size limits, access logs and
// Prometheus metrics — plus the JSON error shape of our APIs
// ({"error", "error_description"}, as in RFC 6749 §5.2).
//
// Access logs carry the method, the route pattern, the status and the
// duration, never the query string or bodies: those may carry codes, tokens or
// personal data.
package httpx
