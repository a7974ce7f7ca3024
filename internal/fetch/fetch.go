package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors. Errors of Get, GetJSON and PostForm wrap one of these, the
// caller's context error, or a connection or TLS failure (refused,
// unreachable, certificate); all name the URL and none carries response
// content.
var (
	// ErrForbiddenURL: the URL, a redirect target or an address the host
	// resolved to is not allowed (scheme, user info, fragment, blocked
	// address range).
	ErrForbiddenURL = errors.New("URL not allowed")
	// ErrTooLarge: the body exceeds Options.MaxBytes. It is refused, not
	// truncated: half a key set or half a URI list is a wrong answer.
	ErrTooLarge = errors.New("response too large")
	// ErrStatus: the server answered with a status other than 200 (a
	// redirect that is not followed included); for PostForm, other than 2xx.
	ErrStatus = errors.New("unexpected HTTP status")
	// ErrTimeout: the exchange did not finish within Options.Timeout (or the
	// caller's deadline passed first).
	ErrTimeout = errors.New("timed out")
	// ErrContentType: GetJSON got a response that is not labelled JSON.
	ErrContentType = errors.New("not a JSON content type")
	// ErrInvalidJSON: GetJSON could not decode the body into the value.
	ErrInvalidJSON = errors.New("invalid JSON")
)

// Defaults and bounds of Options.
const (
	DefaultMaxBytes = 256 << 10
	DefaultTimeout  = 5 * time.Second
	DefaultCacheTTL = 5 * time.Minute
	// A Cache-Control max-age is honoured within [MinCacheTTL, MaxCacheTTL]:
	// the floor keeps a remote that says no-cache from turning every login
	// into an outbound request; the ceiling bounds how long a key set a
	// client replaced can linger.
	MinCacheTTL = time.Minute
	MaxCacheTTL = 24 * time.Hour

	// maxCacheEntries bounds the cache's memory (entries × MaxBytes) however
	// many clients register URLs.
	maxCacheEntries = 1024
	maxURLLength    = 2048
	userAgent       = "eidp-fetch/1"
)

// Options configure a Fetcher. The zero value is the production setting.
type Options struct {
	// AllowHTTP permits http:// URLs. Development only: https only otherwise.
	AllowHTTP bool
	// AllowPrivateNetworks permits loopback, private (RFC 1918, RFC 4193
	// ULA), link-local, CGNAT, unspecified, multicast and other non-global
	// addresses, and IPv4-mapped forms of those. Development and tests only.
	// Otherwise they are refused, for IP-literal hosts before dialing and for
	// every resolved address at dial time (net.Dialer.Control), so DNS
	// rebinding cannot slip past a pre-check.
	AllowPrivateNetworks bool
	// MaxBytes bounds the response body; a larger body is an error.
	// Default DefaultMaxBytes (256 KiB).
	MaxBytes int64
	// Timeout bounds the whole exchange: dial, TLS, headers and body.
	// Default DefaultTimeout (5 s).
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; each target is checked
	// like the original URL. Default 0: a redirect is answered with ErrStatus.
	MaxRedirects int
	// CacheTTL is how long a successful response is reused when it has no
	// Cache-Control max-age (a max-age is honoured within [MinCacheTTL,
	// MaxCacheTTL]). Default DefaultCacheTTL (5 min).
	CacheTTL time.Duration
	// TLSConfig replaces the default TLS settings (system roots). It exists
	// for tests, which trust an httptest.Server's certificate through it
	// (srv.Client().Transport.(*http.Transport).TLSClientConfig); production
	// leaves it nil. It is cloned, and MinVersion is raised to TLS 1.2.
	TLSConfig *tls.Config
}

// Fetcher performs SSRF-safe GETs with a cache. It is safe for concurrent
// use; make one per process and share it, so the cache is shared too.
type Fetcher struct {
	opts   Options
	client *http.Client

	mu       sync.Mutex
	now      func() time.Time
	cache    map[string]entry
	inflight map[string]*call
}

type entry struct {
	body        []byte
	contentType string
	expires     time.Time
}

// call is one in-flight request that concurrent Gets of the same URL share.
type call struct {
	done   chan struct{} // closed when body/contentType/err are set
	joined int           // how many Gets waited on it (for tests)

	body        []byte
	contentType string
	err         error
}

// New returns a Fetcher with the options' defaults filled in.
func New(opts Options) *Fetcher {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.MaxRedirects < 0 {
		opts.MaxRedirects = 0
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivateNetworks {
		// Called for every address the dialer tries, after resolution: the
		// only check that sees the IP actually connected to.
		dialer.Control = checkDialAddress
	}
	tlsConfig := &tls.Config{}
	if opts.TLSConfig != nil {
		tlsConfig = opts.TLSConfig.Clone()
	}
	if tlsConfig.MinVersion < tls.VersionTLS12 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	transport := &http.Transport{
		// No proxy, on purpose: through a proxy the dial check would see the
		// proxy's address, not the target's.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        tlsConfig,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    opts.Timeout,
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           64,
		IdleConnTimeout:        90 * time.Second,
	}
	f := &Fetcher{
		opts:     opts,
		now:      time.Now,
		cache:    make(map[string]entry),
		inflight: make(map[string]*call),
	}
	f.client = &http.Client{Transport: transport, CheckRedirect: f.checkRedirect}
	return f
}

// Get fetches url with the given Accept header (none if empty) and returns
// the body of a 200 response. Responses are cached per URL and Accept value;
// concurrent Gets of one URL share one request, which is bounded by
// Options.Timeout and not by any single caller's context (a caller that gives
// up does not fail the others). The returned slice is the caller's own.
func (f *Fetcher) Get(ctx context.Context, url string, accept string) ([]byte, error) {
	body, _, _, err := f.get(ctx, url, accept)
	return body, err
}

// GetJSON fetches url with Accept: application/json and decodes the body
// into v. The response must be labelled application/json or a +json type
// (for example application/jwk-set+json, RFC 7517 §8.5).
func (f *Fetcher) GetJSON(ctx context.Context, url string, v any) error {
	body, contentType, shown, err := f.get(ctx, url, "application/json")
	if err != nil {
		return err
	}
	if !isJSON(contentType) {
		return fmt.Errorf("fetch %s: %w: %q", shown, ErrContentType, truncate(contentType, 100))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("fetch %s: %w", shown, describeJSONError(err))
	}
	return nil
}

func (f *Fetcher) get(ctx context.Context, rawURL, accept string) (body []byte, contentType, shown string, err error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return nil, "", "", err
	}
	shown = u.Redacted()
	key := accept + "\x00" + rawURL

	f.mu.Lock()
	if e, ok := f.cache[key]; ok {
		if f.now().Before(e.expires) {
			f.mu.Unlock()
			return clone(e.body), e.contentType, shown, nil
		}
		delete(f.cache, key)
	}
	c, ok := f.inflight[key]
	if !ok {
		c = &call{done: make(chan struct{})}
		f.inflight[key] = c
		// The shared request outlives any one caller's cancellation but
		// keeps its values (trace IDs); Options.Timeout bounds it.
		go f.do(context.WithoutCancel(ctx), key, u, accept, c)
	}
	c.joined++
	f.mu.Unlock()

	select {
	case <-c.done:
		if c.err != nil {
			return nil, "", shown, c.err
		}
		return clone(c.body), c.contentType, shown, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", shown, fmt.Errorf("fetch %s: %w: %w", shown, ErrTimeout, ctx.Err())
		}
		return nil, "", shown, fmt.Errorf("fetch %s: %w", shown, ctx.Err())
	}
}

// do runs the shared request of c and publishes its result.
func (f *Fetcher) do(ctx context.Context, key string, u *url.URL, accept string, c *call) {
	body, contentType, ttl, err := f.fetch(ctx, u, accept)
	f.mu.Lock()
	if err == nil {
		f.store(key, entry{body: body, contentType: contentType, expires: f.now().Add(ttl)})
	}
	delete(f.inflight, key)
	c.body, c.contentType, c.err = body, contentType, err
	f.mu.Unlock()
	close(c.done)
}

// store adds e under key; f.mu is held. Errors are never stored: the next Get
// tries again.
func (f *Fetcher) store(key string, e entry) {
	if len(f.cache) >= maxCacheEntries {
		now := f.now()
		var soonest string
		for k, old := range f.cache {
			if !now.Before(old.expires) {
				delete(f.cache, k)
			} else if soonest == "" || old.expires.Before(f.cache[soonest].expires) {
				soonest = k
			}
		}
		if len(f.cache) >= maxCacheEntries {
			delete(f.cache, soonest)
		}
	}
	f.cache[key] = e
}

func (f *Fetcher) fetch(ctx context.Context, u *url.URL, accept string) (body []byte, contentType string, ttl time.Duration, err error) {
	shown := u.Redacted()
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", 0, fmt.Errorf("fetch %s: %w: %w", shown, ErrForbiddenURL, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", userAgent)

	resp, err := f.client.Do(req)
	if err != nil {
		return nil, "", 0, f.exchangeError(ctx, shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused; never read it.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		note := ""
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			note = fmt.Sprintf(" (redirect not followed: limit %d)", f.opts.MaxRedirects)
		}
		return nil, "", 0, fmt.Errorf("fetch %s: %w %d%s", shown, ErrStatus, resp.StatusCode, note)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return nil, "", 0, fmt.Errorf("fetch %s: %w: %d bytes announced, limit %d", shown, ErrTooLarge, resp.ContentLength, f.opts.MaxBytes)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, "", 0, f.exchangeError(ctx, shown, err)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, "", 0, fmt.Errorf("fetch %s: %w: more than %d bytes", shown, ErrTooLarge, f.opts.MaxBytes)
	}
	return body, resp.Header.Get("Content-Type"), f.ttl(resp.Header), nil
}

// exchangeError turns a transport error into one of ours. Only errors known
// to carry no response content keep their text: net/http's own errors may
// quote what a non-HTTP service answered ("malformed HTTP response ..."), and
// a refused fetch must not become a way to read an internal service.
func (f *Fetcher) exchangeError(ctx context.Context, shown string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var netErr net.Error
	switch {
	case errors.Is(err, ErrForbiddenURL):
		return fmt.Errorf("fetch %s: %w", shown, err)
	case ctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("fetch %s: %w (limit %s): %w", shown, ErrTimeout, f.opts.Timeout, err)
	}
	var (
		opErr     *net.OpError
		certErr   *tls.CertificateVerificationError
		hostErr   x509.HostnameError
		unknownCA x509.UnknownAuthorityError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
	)
	if errors.As(err, &opErr) || errors.As(err, &certErr) || errors.As(err, &hostErr) ||
		errors.As(err, &unknownCA) || errors.As(err, &recordErr) || errors.As(err, &alertErr) {
		return fmt.Errorf("fetch %s: %w", shown, err)
	}
	return &opaqueError{msg: fmt.Sprintf("fetch %s: exchange failed (cause withheld from the message: it may quote the server)", shown), err: err}
}

// opaqueError wraps a cause without showing its text.
type opaqueError struct {
	msg string
	err error
}

func (e *opaqueError) Error() string { return e.msg }
func (e *opaqueError) Unwrap() error { return e.err }

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.opts.MaxRedirects {
		return http.ErrUseLastResponse
	}
	if _, err := f.checkURL(req.URL.String()); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	return nil
}

// checkURL applies the URL rules; its errors name the URL and wrap
// ErrForbiddenURL.
func (f *Fetcher) checkURL(raw string) (*url.URL, error) {
	refuse := func(shown, why string) error {
		return fmt.Errorf("fetch %s: %w: %s", shown, ErrForbiddenURL, why)
	}
	if len(raw) > maxURLLength {
		return nil, refuse(strconv.Quote(truncate(raw, 100)), fmt.Sprintf("longer than %d bytes", maxURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refuse(strconv.Quote(raw), "not a URL")
	}
	shown := u.Redacted()
	switch {
	case u.Scheme == "http" && !f.opts.AllowHTTP:
		return nil, refuse(shown, "http is not allowed, use https")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, refuse(shown, "scheme must be https")
	case u.Opaque != "" || u.Host == "":
		return nil, refuse(shown, "no host")
	case u.User != nil:
		return nil, refuse(shown, "user info is not allowed")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, refuse(shown, "fragments are not allowed")
	}
	host := u.Hostname()
	if host == "" {
		return nil, refuse(shown, "no host")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if !f.opts.AllowPrivateNetworks {
			if why := blockedReason(addr); why != "" {
				return nil, refuse(shown, fmt.Sprintf("address %s is %s", addr, why))
			}
		}
		return u, nil
	}
	// A last label of digits (or hex) is no DNS name — no top-level domain
	// is numeric — but some resolvers read "127.1" or "2130706433" as IPv4.
	last := host[strings.LastIndex(strings.TrimSuffix(host, "."), ".")+1:]
	last = strings.TrimSuffix(last, ".")
	if isNumericLabel(last) {
		return nil, refuse(shown, "numeric host that is not an IP address")
	}
	return u, nil
}

func isNumericLabel(s string) bool {
	if s == "" {
		return false
	}
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		return true
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ttl is how long a response may be cached: Cache-Control max-age within
// [MinCacheTTL, MaxCacheTTL] (no-store and no-cache count as 0), else
// Options.CacheTTL.
func (f *Fetcher) ttl(h http.Header) time.Duration {
	maxAge, found := int64(0), false
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return MinCacheTTL
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 && !found {
					maxAge, found = n, true
				}
			}
		}
	}
	if !found {
		return f.opts.CacheTTL
	}
	switch {
	case maxAge < int64(MinCacheTTL/time.Second):
		return MinCacheTTL
	case maxAge > int64(MaxCacheTTL/time.Second):
		return MaxCacheTTL
	}
	return time.Duration(maxAge) * time.Second
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// describeJSONError keeps the position and the expected type of a decoding
// error, not the offending value (which is response content).
func describeJSONError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("%w: syntax error at byte %d", ErrInvalidJSON, syntaxErr.Offset)
	case errors.As(err, &typeErr):
		kind, _, _ := strings.Cut(typeErr.Value, " ")
		where := ""
		if typeErr.Field != "" {
			where = " in field " + strconv.Quote(typeErr.Field)
		}
		want := "another type"
		if typeErr.Type != nil {
			want = typeErr.Type.String()
		}
		return fmt.Errorf("%w: JSON %s where %s expected%s", ErrInvalidJSON, kind, want, where)
	}
	var invalid *json.InvalidUnmarshalError
	if errors.As(err, &invalid) {
		return err // a programming error of the caller, not response content
	}
	return fmt.Errorf("%w: cannot decode", ErrInvalidJSON)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
