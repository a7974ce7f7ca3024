package httpx

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimiter is a token bucket per client address: each address may make
// Burst requests at once and Rate per second after that. It is per node —
// behind a load balancer the effective limit is Rate × nodes — which is
// enough to stop one client from hammering ceremonies and proofing; the
// durable limits (proofing lockouts) live in the database.
type RateLimiter struct {
	Rate  float64
	Burst float64
	// MaxClients bounds memory: when more addresses are tracked, idle
	// buckets (full again) are dropped first.
	MaxClients int

	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter allowing burst requests at once and rate
// per second per client address.
func NewRateLimiter(rate, burst float64) *RateLimiter {
	return &RateLimiter{Rate: rate, Burst: burst, MaxClients: 100_000, buckets: map[string]*bucket{}, now: time.Now}
}

// Allow takes a token for key, reporting whether one was there and, if not,
// how long until one is.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.MaxClients {
			l.evict(now)
		}
		b = &bucket{tokens: l.Burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.Burst, b.tokens+now.Sub(b.last).Seconds()*l.Rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
}

// evict drops buckets that have refilled (their clients are idle); if none
// has, it drops all, which errs on the side of serving.
func (l *RateLimiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.Rate >= l.Burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.MaxClients {
		clear(l.buckets)
	}
}

// Middleware answers 429 with Retry-After when the client's bucket is empty.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, wait := l.Allow(ClientAddr(r))
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
			WriteError(w, http.StatusTooManyRequests, "slow_down", "too many requests; try again shortly")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ClientAddr is the client's IP address: the peer's, or the one
// TrustedProxies found behind our own proxies.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
