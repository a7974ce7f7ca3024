package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRateLimiterRefillsAtItsRate(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewRateLimiter(2, 3) // 3 at once, then 2 per second
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another client shares the bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("no token after the refill interval")
	}
}

func TestRateLimiterMemoryIsBounded(t *testing.T) {
	l := NewRateLimiter(1, 1)
	l.MaxClients = 10
	for i := range 100 {
		l.Allow(string(rune('a' + i)))
	}
	if len(l.buckets) > 10 {
		t.Fatalf("%d buckets kept", len(l.buckets))
	}
}

func TestRateLimitMiddlewareAnswers429WithRetryAfter(t *testing.T) {
	h := NewRateLimiter(1, 1).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("POST", "/", nil)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != 200 {
		t.Fatalf("first: %d", rr.Code)
	}
	rr = httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusTooManyRequests || rr.Header().Get("Retry-After") == "" {
		t.Fatalf("second: %d %v", rr.Code, rr.Header())
	}
}
