package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// ErrNotLoopback is the error of a connection refused because its address
// is not a loopback address.
var ErrNotLoopback = errors.New("loadgen: refusing to connect to a non-loopback address (pass -allow-remote to load a remote server on purpose)")

// NewHTTPClient returns the client a run uses: kept-alive connections (up to
// workers idle ones per host, so each worker keeps its own), no proxy (the
// environment's HTTP_PROXY must not sit between the generator and the
// server), no transparent compression, timeouts on every stage, and no
// connection to anything but a loopback address.
func NewHTTPClient(workers int) *http.Client {
	return newHTTPClient(workers, false)
}

func newHTTPClient(workers int, allowNonLoopback bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowNonLoopback {
		// The check runs on the resolved address of every connection, so a
		// discovery document naming another host is caught as well.
		dialer.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrNotLoopback, address)
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("%w: %s", ErrNotLoopback, address)
			}
			return nil
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			MaxIdleConns:          workers,
			MaxIdleConnsPerHost:   workers,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
			ForceAttemptHTTP2:     false,
		},
		Timeout: 60 * time.Second,
		// A scenario sees redirects itself: a 302 from a token endpoint is
		// an unexpected response, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
