package fetch_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eidp/internal/fetch"
)

// testServer is an httptest TLS server on loopback that counts requests.
type testServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newTLSServer(t *testing.T, h http.HandlerFunc) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// options trusts the test server's certificate and allows loopback, which
// every test server lives on.
func (s *testServer) options() fetch.Options {
	return fetch.Options{
		AllowPrivateNetworks: true,
		TLSConfig:            s.Client().Transport.(*http.Transport).TLSClientConfig,
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestGetReturnsTheBodyOfA200OverTLS(t *testing.T) {
	var gotAccept, gotUA string
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotAccept, gotUA = r.Header.Get("Accept"), r.Header.Get("User-Agent")
		fmt.Fprint(w, "hello")
	})
	f := fetch.New(srv.options())
	body, err := f.Get(t.Context(), srv.URL+"/doc", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "hello" {
		t.Errorf("body = %q", body)
	}
	if gotAccept != "text/plain" || gotUA == "" {
		t.Errorf("Accept = %q, User-Agent = %q", gotAccept, gotUA)
	}
}

func TestGetRefusesAServerItDoesNotTrust(t *testing.T) {
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {})
	f := fetch.New(fetch.Options{AllowPrivateNetworks: true}) // system roots only
	_, err := f.Get(t.Context(), srv.URL, "")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
}

var blockedAddresses = []string{
	"127.0.0.1", "127.255.255.254", "::1",
	"10.0.0.1", "10.255.255.255",
	"172.16.0.1", "172.31.255.255",
	"192.168.0.1", "192.168.255.255",
	"169.254.169.254", "fe80::1",
	"fc00::1", "fd12:3456:789a::1",
	"100.64.0.1", "100.127.255.255",
	"0.0.0.0", "::",
	"224.0.0.1", "ff02::1", "255.255.255.255",
	"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
	"64:ff9b::7f00:1", "2002:a00:1::1", "::7f00:1", "2001:0:4136:e378::1",
}

func TestBlockedAddressesAreRefusedBeforeAndAtDialTime(t *testing.T) {
	f := fetch.New(fetch.Options{})
	for _, addr := range blockedAddresses {
		t.Run(addr, func(t *testing.T) {
			if fetch.BlockedReason(addr) == "" {
				t.Fatalf("%s is not blocked", addr)
			}
			// An IP-literal host is refused before any connection is tried.
			u := "https://" + net.JoinHostPort(addr, "8443") + "/jwks"
			_, err := f.Get(t.Context(), u, "")
			if !errors.Is(err, fetch.ErrForbiddenURL) {
				t.Fatalf("Get(%s) = %v, want ErrForbiddenURL", u, err)
			}
			if !strings.Contains(err.Error(), "address") {
				t.Errorf("error %q does not say which address", err)
			}
			// The dial-time hook refuses it too, whatever name led there.
			if err := fetch.CheckDialAddress("tcp", net.JoinHostPort(addr, "443"), nil); !errors.Is(err, fetch.ErrForbiddenURL) {
				t.Errorf("dial check = %v, want ErrForbiddenURL", err)
			}
		})
	}
}

func TestPublicAddressesAreAllowed(t *testing.T) {
	// Only the policy is exercised: the tests reach no network beyond loopback.
	for _, addr := range []string{
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1",
		"192.169.0.1", "169.255.0.1", "2606:4700:4700::1111", "2a00:1450::1",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	} {
		t.Run(addr, func(t *testing.T) {
			if why := fetch.BlockedReason(addr); why != "" {
				t.Errorf("%s blocked as %s", addr, why)
			}
			if err := fetch.CheckDialAddress("tcp", net.JoinHostPort(addr, "443"), nil); err != nil {
				t.Errorf("dial check = %v", err)
			}
		})
	}
}

func TestAHostnameThatResolvesToLoopbackIsRefusedAtDialTime(t *testing.T) {
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "internal") })
	opts := srv.options()
	opts.AllowPrivateNetworks = false
	f := fetch.New(opts)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// "localhost" passes the URL check (it is a name, not an address); only
	// the dial-time check sees that it resolved to 127.0.0.1.
	_, err := f.Get(t.Context(), "https://localhost:"+port+"/", "")
	if !errors.Is(err, fetch.ErrForbiddenURL) {
		t.Fatalf("err = %v, want ErrForbiddenURL", err)
	}
	if !strings.Contains(err.Error(), "resolved to") {
		t.Errorf("error %q was not raised at dial time", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
}

func TestURLRules(t *testing.T) {
	tests := []struct {
		name, url string
		opts      fetch.Options
		hidden    string // must not appear in the error
	}{
		{name: "http is refused without AllowHTTP", url: "http://example.com/jwks"},
		{name: "other schemes are refused", url: "ftp://example.com/jwks"},
		{name: "a file URL is refused", url: "file:///etc/passwd"},
		{name: "user info is refused and not echoed", url: "https://alice:s3cr3t@example.com/", hidden: "s3cr3t"},
		{name: "a fragment is refused", url: "https://example.com/jwks#keys"},
		{name: "an empty fragment is refused", url: "https://example.com/jwks#"},
		{name: "a URL without host is refused", url: "https:///jwks"},
		{name: "an opaque URL is refused", url: "https:example.com"},
		{name: "a decimal IPv4 host is refused", url: "https://2130706433/"},
		{name: "a short IPv4 host is refused", url: "https://127.1/"},
		{name: "a hex IPv4 host is refused", url: "https://0x7f000001/"},
		{name: "a bracketed loopback with zone is refused", url: "https://[fe80::1%25eth0]/"},
		{name: "a very long URL is refused", url: "https://example.com/" + strings.Repeat("a", 3000)},
		{name: "not a URL", url: "https://exa mple.com/\x7f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetch.New(tt.opts).Get(t.Context(), tt.url, "")
			if !errors.Is(err, fetch.ErrForbiddenURL) {
				t.Fatalf("err = %v, want ErrForbiddenURL", err)
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("error %q shows %q", err, tt.hidden)
			}
		})
	}
}

func TestHTTPIsAllowedInDevelopment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "dev") }))
	t.Cleanup(srv.Close)
	_, err := fetch.New(fetch.Options{AllowPrivateNetworks: true}).Get(t.Context(), srv.URL, "")
	if !errors.Is(err, fetch.ErrForbiddenURL) {
		t.Fatalf("without AllowHTTP: err = %v, want ErrForbiddenURL", err)
	}
	body, err := fetch.New(fetch.Options{AllowPrivateNetworks: true, AllowHTTP: true}).Get(t.Context(), srv.URL, "")
	if err != nil || string(body) != "dev" {
		t.Fatalf("with AllowHTTP: %q, %v", body, err)
	}
}

func TestSizeLimit(t *testing.T) {
	const limit = 1000
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") != "" {
			// Flushing before the end forces chunked encoding: no Content-Length.
			fmt.Fprint(w, strings.Repeat("x", n/2))
			w.(http.Flusher).Flush()
			fmt.Fprint(w, strings.Repeat("x", n-n/2))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		fmt.Fprint(w, strings.Repeat("x", n))
	})
	opts := srv.options()
	opts.MaxBytes = limit
	f := fetch.New(opts)
	for _, chunked := range []string{"", "1"} {
		body, err := f.Get(t.Context(), fmt.Sprintf("%s/?n=%d&chunked=%s", srv.URL, limit, chunked), "")
		if err != nil || len(body) != limit {
			t.Errorf("chunked=%q: a body of exactly the limit: %d bytes, %v", chunked, len(body), err)
		}
		_, err = f.Get(t.Context(), fmt.Sprintf("%s/?n=%d&chunked=%s", srv.URL, limit+1, chunked), "")
		if !errors.Is(err, fetch.ErrTooLarge) {
			t.Errorf("chunked=%q: one byte over: err = %v, want ErrTooLarge", chunked, err)
		}
	}
	if fetch.New(fetch.Options{}) == nil {
		t.Fatal("New returned nil")
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "100")
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	opts := srv.options()
	opts.Timeout = 200 * time.Millisecond
	f := fetch.New(opts)
	for _, path := range []string{"/headers", "/body"} {
		start := time.Now()
		_, err := f.Get(t.Context(), srv.URL+path, "")
		if !errors.Is(err, fetch.ErrTimeout) {
			t.Errorf("%s: err = %v, want ErrTimeout", path, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s: returned after %s, long after the 200 ms limit", path, d)
		}
	}

	// The caller's own deadline counts as a timeout too.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := fetch.New(srv.options()).Get(ctx, srv.URL+"/caller", "")
	if !errors.Is(err, fetch.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller deadline: err = %v, want ErrTimeout and DeadlineExceeded", err)
	}
}

func TestRedirects(t *testing.T) {
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/one":
			http.Redirect(w, r, "/target", http.StatusFound)
		case "/two":
			http.Redirect(w, r, "/one", http.StatusFound)
		case "/to-http":
			http.Redirect(w, r, "http://"+r.Host+"/target", http.StatusFound)
		case "/to-userinfo":
			http.Redirect(w, r, "https://u:p@"+r.Host+"/target", http.StatusFound)
		case "/target":
			fmt.Fprint(w, "target")
		}
	})
	get := func(maxRedirects int, path string) ([]byte, error) {
		opts := srv.options()
		opts.MaxRedirects = maxRedirects
		return fetch.New(opts).Get(t.Context(), srv.URL+path, "")
	}

	before := srv.hits.Load()
	_, err := get(0, "/one")
	if !errors.Is(err, fetch.ErrStatus) || !strings.Contains(err.Error(), "302") {
		t.Errorf("default: err = %v, want ErrStatus 302", err)
	}
	if n := srv.hits.Load() - before; n != 1 {
		t.Errorf("default: %d requests, want 1 (the target must not be fetched)", n)
	}

	if body, err := get(1, "/one"); err != nil || string(body) != "target" {
		t.Errorf("one redirect allowed: %q, %v", body, err)
	}
	if _, err := get(1, "/two"); !errors.Is(err, fetch.ErrStatus) {
		t.Errorf("two redirects, one allowed: err = %v, want ErrStatus", err)
	}
	if _, err := get(1, "/to-http"); !errors.Is(err, fetch.ErrForbiddenURL) {
		t.Errorf("redirect to http: err = %v, want ErrForbiddenURL", err)
	}
	if _, err := get(1, "/to-userinfo"); !errors.Is(err, fetch.ErrForbiddenURL) {
		t.Errorf("redirect to a URL with user info: err = %v, want ErrForbiddenURL", err)
	}
}

func TestOnly200IsAcceptedAndErrorsCarryNoBody(t *testing.T) {
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		fmt.Fprint(w, "internal-admin-page-content")
	})
	f := fetch.New(srv.options())
	for _, code := range []int{201, 204, 304, 400, 404, 500, 503} {
		_, err := f.Get(t.Context(), fmt.Sprintf("%s/%d", srv.URL, code), "")
		if !errors.Is(err, fetch.ErrStatus) || !strings.Contains(err.Error(), strconv.Itoa(code)) {
			t.Errorf("%d: err = %v, want ErrStatus naming the code", code, err)
		} else if strings.Contains(err.Error(), "internal-admin") {
			t.Errorf("%d: error %q shows the body", code, err)
		}
	}
}

func TestANonHTTPServiceIsNotQuotedInErrors(t *testing.T) {
	// A service that is not HTTP (think Redis on an internal port): net/http's
	// own error would quote its answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = bufio.NewReader(c).ReadString('\n')
				fmt.Fprint(c, "-ERR internal-redis-secret\r\n\r\n")
			}()
		}
	}()
	f := fetch.New(fetch.Options{AllowHTTP: true, AllowPrivateNetworks: true})
	_, err = f.Get(t.Context(), "http://"+ln.Addr().String()+"/", "")
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "internal-redis-secret") {
		t.Errorf("error %q quotes the service's answer", err)
	}
}

func TestCache(t *testing.T) {
	var cacheControl atomic.Value
	cacheControl.Store("")
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		if cc := cacheControl.Load().(string); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		fmt.Fprint(w, "doc")
	})

	t.Run("a second Get is served from the cache until the TTL passes", func(t *testing.T) {
		f := fetch.New(srv.options())
		c := &clock{t: time.Unix(1_800_000_000, 0)}
		fetch.SetNow(f, c.now)
		u := srv.URL + "/default"
		before := srv.hits.Load()
		body, err := f.Get(t.Context(), u, "")
		if err != nil {
			t.Fatal(err)
		}
		body[0] = 'X' // the caller's copy; the cache must not change
		body, err = f.Get(t.Context(), u, "")
		if err != nil || string(body) != "doc" {
			t.Fatalf("second Get: %q, %v", body, err)
		}
		if n := srv.hits.Load() - before; n != 1 {
			t.Fatalf("%d requests for two Gets, want 1", n)
		}
		c.advance(fetch.DefaultCacheTTL + time.Second)
		if _, err := f.Get(t.Context(), u, ""); err != nil {
			t.Fatal(err)
		}
		if n := srv.hits.Load() - before; n != 2 {
			t.Fatalf("%d requests after the TTL, want 2", n)
		}
	})

	tests := []struct {
		cacheControl   string
		fresh, expired time.Duration
	}{
		{"max-age=120", 119 * time.Second, 121 * time.Second},
		{"public, max-age=3600", 10 * time.Minute, 3601 * time.Second},
		{"max-age=5", 30 * time.Second, 61 * time.Second},                  // floor 1 min
		{"max-age=0", 59 * time.Second, 61 * time.Second},                  // floor 1 min
		{"no-store", 59 * time.Second, 61 * time.Second},                   // floor 1 min
		{"max-age=9999999", 23 * time.Hour, 24*time.Hour + time.Second},    // ceiling 24 h
		{"max-age=99999999999999999999", 23 * time.Hour, 25 * time.Hour},   // unparsable: default TTL…
		{"max-age=\"600\"", 9 * time.Minute, 10*time.Minute + time.Second}, // quoted
	}
	tests[6].fresh, tests[6].expired = 4*time.Minute, 5*time.Minute+time.Second // …of 5 min
	for i, tt := range tests {
		t.Run("Cache-Control "+tt.cacheControl, func(t *testing.T) {
			cacheControl.Store(tt.cacheControl)
			t.Cleanup(func() { cacheControl.Store("") })
			f := fetch.New(srv.options())
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			fetch.SetNow(f, c.now)
			u := fmt.Sprintf("%s/max-age/%d", srv.URL, i)
			before := srv.hits.Load()
			if _, err := f.Get(t.Context(), u, ""); err != nil {
				t.Fatal(err)
			}
			c.advance(tt.fresh)
			if _, err := f.Get(t.Context(), u, ""); err != nil {
				t.Fatal(err)
			}
			if n := srv.hits.Load() - before; n != 1 {
				t.Errorf("after %s: %d requests, want 1 (still cached)", tt.fresh, n)
			}
			c.advance(tt.expired - tt.fresh)
			if _, err := f.Get(t.Context(), u, ""); err != nil {
				t.Fatal(err)
			}
			if n := srv.hits.Load() - before; n != 2 {
				t.Errorf("after %s: %d requests, want 2 (expired)", tt.expired, n)
			}
		})
	}

	t.Run("errors are not cached", func(t *testing.T) {
		var calls atomic.Int64
		srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, "up")
		})
		f := fetch.New(srv.options())
		if _, err := f.Get(t.Context(), srv.URL, ""); !errors.Is(err, fetch.ErrStatus) {
			t.Fatalf("first Get: err = %v, want ErrStatus", err)
		}
		body, err := f.Get(t.Context(), srv.URL, "")
		if err != nil || string(body) != "up" {
			t.Fatalf("second Get: %q, %v", body, err)
		}
		if n := srv.hits.Load(); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
}

func TestConcurrentGetsOfOneURLShareOneRequest(t *testing.T) {
	release := make(chan struct{})
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "shared")
	})
	f := fetch.New(srv.options())
	const n = 10
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { bodies[i], errs[i] = f.Get(t.Context(), srv.URL, "") })
	}
	// Hold the response until all ten Gets have joined the request in flight.
	deadline := time.Now().Add(10 * time.Second)
	for fetch.Joined(f, srv.URL, "") < n {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("only %d Gets joined", fetch.Joined(f, srv.URL, ""))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || string(bodies[i]) != "shared" {
			t.Errorf("Get %d: %q, %v", i, bodies[i], errs[i])
		}
	}
	if h := srv.hits.Load(); h != 1 {
		t.Errorf("%d requests for %d concurrent Gets, want 1", h, n)
	}
}

func TestACallerGivingUpDoesNotFailTheSharedRequest(t *testing.T) {
	release := make(chan struct{})
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "late")
	})
	f := fetch.New(srv.options())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := f.Get(ctx, srv.URL, ""); done <- err }()
	for fetch.Joined(f, srv.URL, "") < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: err = %v", err)
	}
	close(release)
	// The request went on and its answer was cached.
	body, err := f.Get(t.Context(), srv.URL, "")
	if err != nil || string(body) != "late" {
		t.Fatalf("%q, %v", body, err)
	}
	if h := srv.hits.Load(); h != 1 {
		t.Errorf("%d requests, want 1", h)
	}
}

func TestGetJSON(t *testing.T) {
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/json" {
			http.Error(w, "bad accept", http.StatusNotAcceptable)
			return
		}
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			fmt.Fprint(w, `["https://a.example/cb"]`)
		case "/jwks":
			w.Header().Set("Content-Type", "application/jwk-set+json")
			fmt.Fprint(w, `["k"]`)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `["x"]`)
		case "/none":
			w.Header()["Content-Type"] = nil
			fmt.Fprint(w, `["x"]`)
		case "/broken":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `["secret-value" Zsecret`)
		case "/object":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"secret-field": 1}`)
		case "/number":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `987654321`)
		}
	})
	f := fetch.New(srv.options())
	for _, path := range []string{"/json", "/jwks"} {
		var v []string
		if err := f.GetJSON(t.Context(), srv.URL+path, &v); err != nil || len(v) != 1 {
			t.Errorf("%s: %v, %v", path, v, err)
		}
	}
	for _, path := range []string{"/html", "/none"} {
		var v []string
		if err := f.GetJSON(t.Context(), srv.URL+path, &v); !errors.Is(err, fetch.ErrContentType) {
			t.Errorf("%s: err = %v, want ErrContentType", path, err)
		}
	}
	for _, path := range []string{"/broken", "/object", "/number"} {
		var v []string
		err := f.GetJSON(t.Context(), srv.URL+path, &v)
		if !errors.Is(err, fetch.ErrInvalidJSON) {
			t.Errorf("%s: err = %v, want ErrInvalidJSON", path, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "Z") || strings.Contains(err.Error(), "987654321") {
			t.Errorf("%s: error %q shows response content", path, err)
		}
	}
}
