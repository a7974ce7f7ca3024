package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRequestIDIsGeneratedOrPassedThroughWhenSafe(t *testing.T) {
	var seen string
	h := RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestIDFrom(r.Context()) }))
	cases := []struct {
		name, in string
		keep     bool
	}{
		{"no header gets a fresh ID", "", false},
		{"a proxy's safe ID is kept", "abc-123_X.y", true},
		{"an ID with a newline is replaced", "abc\nfake log line", false},
		{"an overlong ID is replaced", strings.Repeat("a", 65), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if tc.in != "" {
				req.Header.Set(RequestIDHeader, tc.in)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			got := rr.Header().Get(RequestIDHeader)
			if got != seen || got == "" {
				t.Fatalf("header %q, context %q", got, seen)
			}
			if (got == tc.in) != tc.keep {
				t.Fatalf("kept=%v for %q → %q", got == tc.in, tc.in, got)
			}
		})
	}
}

func TestRecoverReturns500WithoutLeakingAndLogsTheCause(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret database password in panic")
	}), RequestID(), Recover(log))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/x", nil))
	if rr.Code != 500 {
		t.Fatalf("status %d", rr.Code)
	}
	if strings.Contains(rr.Body.String(), "secret") {
		t.Fatalf("response leaks the panic: %s", rr.Body)
	}
	var body ErrorBody
	if err := json.Unmarshal(rr.Body.Bytes(), &body); err != nil || body.Error != "server_error" {
		t.Fatalf("body %s: %v", rr.Body, err)
	}
	if !strings.Contains(logs.String(), "secret database password") || !strings.Contains(logs.String(), rr.Header().Get(RequestIDHeader)) {
		t.Fatalf("log lacks cause or request id: %s", logs.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, hsts := range []bool{false, true} {
		rr := httptest.NewRecorder()
		SecurityHeaders(SecurityHeaderOptions{HSTS: hsts})(http.NotFoundHandler()).ServeHTTP(rr, httptest.NewRequest("GET", "/", nil))
		h := rr.Header()
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("CSP: %q", h.Get("Content-Security-Policy"))
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("headers: %v", h)
		}
		if (h.Get("Strict-Transport-Security") != "") != hsts {
			t.Errorf("HSTS=%v but header %q", hsts, h.Get("Strict-Transport-Security"))
		}
	}
}

func TestLimitBodyRefusesLargeBodies(t *testing.T) {
	var readErr error
	h := LimitBody(1024)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, readErr = io.ReadAll(r.Body)
	}))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", 2048))))
	if rr.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("announced large body: status %d", rr.Code)
	}
	// A chunked body has no Content-Length: the reader stops it.
	req := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(strings.Repeat("a", 2048))))
	req.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !IsBodyTooLarge(readErr) {
		t.Fatalf("chunked large body read error = %v", readErr)
	}
}

func TestLimitBodyAllowsMoreOnNamedPaths(t *testing.T) {
	var n int
	h := LimitBody(1024, PathLimit{Path: "/documents", Max: 4096})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		n = len(b)
	}))
	for _, tc := range []struct {
		path string
		size int
		want int
	}{{"/documents", 3000, http.StatusOK}, {"/documents", 5000, http.StatusRequestEntityTooLarge},
		{"/other", 3000, http.StatusRequestEntityTooLarge}, {"/documents/x", 3000, http.StatusRequestEntityTooLarge}} {
		rr := httptest.NewRecorder()
		n = 0
		h.ServeHTTP(rr, httptest.NewRequest("POST", tc.path, strings.NewReader(strings.Repeat("a", tc.size))))
		if rr.Code != tc.want || tc.want == http.StatusOK && n != tc.size {
			t.Errorf("%s with %d bytes: status %d (read %d), want %d", tc.path, tc.size, rr.Code, n, tc.want)
		}
	}
}

func TestMetricsCountByRoutePatternNotPath(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := m.Middleware()(mux)
	for _, p := range []string{"/things/1", "/things/2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	rr := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	text := rr.Body.String()
	for _, want := range []string{
		`eidp_http_requests_total{code="204",method="GET",route="GET /things/{id}"} 2`,
		`eidp_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`eidp_http_request_duration_seconds_count{method="GET",route="GET /things/{id}"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s\n%s", want, text)
		}
	}
}

func TestServeLetsInFlightRequestsFinishOnShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, h, ServerOptions{ReadHeaderTimeout: time.Second, ReadTimeout: 5 * time.Second,
			WriteTimeout: 5 * time.Second, IdleTimeout: time.Second, ShutdownTimeout: 5 * time.Second, MaxHeaderBytes: 4096},
			slog.New(slog.DiscardHandler))
	}()
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	<-started
	cancel() // as SIGTERM does
	r := <-res
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}
