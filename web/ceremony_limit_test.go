package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The per-address limit on the passkey API: on by default, adjustable, and
// off when a load generator logs thousands of residents in from one
// address (ceremony_rate_limit=0).
func TestCeremonyRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rate     float64
		calls    int
		limitMin int // calls refused with 429 at least
		limitMax int // and at most
	}{
		{"the default lets a burst of 30 through, then refuses", 0, 40, 5, 10},
		{"a higher rate has a larger burst", 4, 70, 5, 10},
		{"a negative rate turns the limit off", -1, 200, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Deps{Log: slog.New(slog.DiscardHandler)}, Options{CeremonyRateLimit: tc.rate})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			s.Register(mux)
			ts := httptest.NewServer(mux)
			t.Cleanup(ts.Close)
			limited := 0
			for range tc.calls {
				// No flow cookie: past the limit, the call is refused for
				// CSRF (403) — what matters is whether the limit answered.
				resp, err := http.Post(ts.URL+"/api/passkey/login/options", "application/json", strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusTooManyRequests:
					limited++
				case http.StatusForbidden:
				default:
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			// A few calls may refill while the loop runs (2 or 4 a second).
			if limited < tc.limitMin || limited > tc.limitMax {
				t.Fatalf("%d of %d calls limited, want %d to %d", limited, tc.calls, tc.limitMin, tc.limitMax)
			}
		})
	}
}
