package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"eidp/idp/account"
	"eidp/idp/session"
	"eidp/internal/db"
	"eidp/internal/testenv"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// env is one engine's database with a manager on a test clock.
type env struct {
	db       *db.DB
	accounts *account.Store
	clock    *testenv.Clock
}

func (e *env) manager(opts session.Options) *session.Manager {
	m := session.NewManager(e.db, opts)
	session.SetNow(m, e.clock.Now)
	return m
}

var idNumbers atomic.Int64

func (e *env) resident(t *testing.T) string {
	t.Helper()
	r, err := e.accounts.Create(testCtx(t), account.Profile{
		IDNumber: fmt.Sprintf("B%06d(1)", idNumbers.Add(1)), Surname: "Wong", GivenNames: "Siu Ming",
		BirthDate: "1985-06-30", Gender: "F",
	}, "substantial")
	if err != nil {
		t.Fatalf("create resident: %v", err)
	}
	return r.ID
}

// eachEngine runs test once per engine, each on a fresh migrated database.
func eachEngine(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	testenv.EachEngine(t, func(t *testing.T, d *db.DB) {
		test(t, &env{db: d, accounts: account.NewStore(d), clock: testenv.NewClock(time.Now())})
	})
}

// login creates a session through a ResponseRecorder and returns it with
// its cookie.
func login(t *testing.T, m *session.Manager, residentID string) (session.Session, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	s, err := m.Create(testCtx(t), rec, residentID, "urn:eidp:acr:substantial", session.AMRForPasskey(false), "Mozilla/5.0 (test)")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Create set %d cookies, want 1", len(cookies))
	}
	return s, cookies[0]
}

// get calls Get with a request carrying cookie (none if nil).
func get(t *testing.T, m *session.Manager, cookie *http.Cookie) (session.Session, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return m.Get(testCtx(t), r)
}

func mustGet(t *testing.T, m *session.Manager, cookie *http.Cookie) session.Session {
	t.Helper()
	s, err := get(t, m, cookie)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return s
}

func wantNoSession(t *testing.T, m *session.Manager, cookie *http.Cookie, why string) {
	t.Helper()
	if s, err := get(t, m, cookie); !errors.Is(err, session.ErrNoSession) {
		t.Errorf("Get %s = (%+v, %v), want ErrNoSession", why, s, err)
	}
}

// revokedAt reports whether the session's row is marked revoked.
func revoked(t *testing.T, e *env, id string) bool {
	t.Helper()
	var n int
	if err := e.db.QueryRowContext(testCtx(t), `SELECT COUNT(*) FROM sessions WHERE id = $1 AND revoked_at IS NOT NULL`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func sameSession(a, b session.Session) bool {
	return a.ID == b.ID && a.ResidentID == b.ResidentID && a.CreatedAt.Equal(b.CreatedAt) &&
		a.LastSeenAt.Equal(b.LastSeenAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.AuthTime.Equal(b.AuthTime) &&
		a.ACR == b.ACR && slices.Equal(a.AMR, b.AMR) && a.UserAgent == b.UserAgent
}

// A browser logs in, is recognised on the next request, and logs out, all
// over real HTTP with a cookie jar.
func TestCookieRoundTrip(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		m := session.NewManager(e.db, session.Options{})
		residentID := e.resident(t)
		var created session.Session
		mux := http.NewServeMux()
		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
			s, err := m.Create(r.Context(), w, residentID, "urn:eidp:acr:substantial", session.AMRForPasskey(true), r.UserAgent())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			created = s
		})
		mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
			s, err := m.Get(r.Context(), r)
			if errors.Is(err, session.ErrNoSession) {
				http.Error(w, "no session", http.StatusUnauthorized)
				return
			} else if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%s %s %s %s", s.ID, s.ResidentID, strings.Join(s.AMR, ","), s.UserAgent)
		})
		mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
			if err := m.Logout(r.Context(), w, r); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar}
		do := func(method, path string) (int, string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, nil)
			req.Header.Set("User-Agent", "RoundTrip/1.0")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}

		if code, _ := do("GET", "/me"); code != http.StatusUnauthorized {
			t.Errorf("GET /me before login: %d, want 401", code)
		}
		if code, body := do("POST", "/login"); code != http.StatusOK {
			t.Fatalf("POST /login: %d %s", code, body)
		}
		want := fmt.Sprintf("%s %s swk,user,pop RoundTrip/1.0", created.ID, residentID)
		if code, body := do("GET", "/me"); code != http.StatusOK || body != want {
			t.Errorf("GET /me after login: %d %q, want 200 %q", code, body, want)
		}
		if code, body := do("POST", "/logout"); code != http.StatusOK {
			t.Fatalf("POST /logout: %d %s", code, body)
		}
		if cookies := jar.Cookies(mustParse(t, srv.URL)); len(cookies) != 0 {
			t.Errorf("the browser still holds %v after logout", cookies)
		}
		if code, _ := do("GET", "/me"); code != http.StatusUnauthorized {
			t.Errorf("GET /me after logout: %d, want 401", code)
		}
		if !revoked(t, e, created.ID) {
			t.Error("logout left the session unrevoked")
		}
	})
}

func TestCreateAndGet(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.manager(session.Options{})
		residentID := e.resident(t)
		s, cookie := login(t, m, residentID)
		now := e.clock.Now().UTC().Truncate(time.Microsecond)
		if s.ResidentID != residentID || !s.CreatedAt.Equal(now) || !s.AuthTime.Equal(now) || !s.LastSeenAt.Equal(now) ||
			!s.ExpiresAt.Equal(now.Add(12*time.Hour)) || s.ACR != "urn:eidp:acr:substantial" ||
			!slices.Equal(s.AMR, []string{"hwk", "user", "pop"}) || s.UserAgent != "Mozilla/5.0 (test)" {
			t.Errorf("Create returned %+v", s)
		}
		if got := mustGet(t, m, cookie); !sameSession(got, s) {
			t.Errorf("Get = %+v, want %+v", got, s)
		}

		t.Run("requests without a valid cookie have no session", func(t *testing.T) {
			wantNoSession(t, m, nil, "without a cookie")
			wantNoSession(t, m, &http.Cookie{Name: "eidp_session", Value: ""}, "with an empty cookie")
			wantNoSession(t, m, &http.Cookie{Name: "eidp_session", Value: strings.Repeat("A", 43)}, "with an unknown token")
			wantNoSession(t, m, &http.Cookie{Name: "eidp_session", Value: strings.Repeat("A", 4096)}, "with an oversized cookie")
			wantNoSession(t, m, &http.Cookie{Name: "other", Value: cookie.Value}, "with the token under another name")
			wantNoSession(t, m, &http.Cookie{Name: "eidp_session", Value: s.ID}, "with the public ID as token")
		})

		t.Run("the database never holds the cookie value", func(t *testing.T) {
			var texts []string
			rows, err := e.db.QueryContext(testCtx(t), `SELECT id, token_hash, resident_id, acr, amr, user_agent FROM sessions`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				v := make([]string, 6)
				if err := rows.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]); err != nil {
					t.Fatal(err)
				}
				texts = append(texts, v...)
			}
			rows.Close()
			raw, _ := base64.RawURLEncoding.DecodeString(cookie.Value)
			for _, text := range texts {
				if strings.Contains(text, cookie.Value) || strings.Contains(text, hex.EncodeToString(raw)) {
					t.Fatalf("the sessions table holds the cookie value (in %q)", text)
				}
			}
			sum := sha256.Sum256([]byte(cookie.Value))
			if !slices.Contains(texts, hex.EncodeToString(sum[:])) {
				t.Error("the sessions table does not hold SHA-256 of the cookie value")
			}
		})

		t.Run("the user agent is cleaned and cut to 256 bytes", func(t *testing.T) {
			long := strings.Repeat("ab", 127) + "世界" + strings.Repeat("x", 1000)
			rec := httptest.NewRecorder()
			s, err := m.Create(testCtx(t), rec, residentID, "urn:eidp:acr:substantial", nil, long)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.UserAgent) > 256 || !utf8.ValidString(s.UserAgent) || !strings.HasPrefix(long, s.UserAgent) || len(s.UserAgent) < 250 {
				t.Errorf("user agent kept as %d bytes %q", len(s.UserAgent), s.UserAgent)
			}
			if got := mustGet(t, m, rec.Result().Cookies()[0]); got.UserAgent != s.UserAgent {
				t.Errorf("stored user agent %q, want %q", got.UserAgent, s.UserAgent)
			}
			for in, want := range map[string]string{
				"a\x00b\x1fc\x7f": "abc",
				"bad \xff utf8":   "bad \uFFFD utf8",
				"Mozilla/5.0 (X)": "Mozilla/5.0 (X)",
			} {
				if got := session.CleanUserAgent(in); got != want {
					t.Errorf("cleanUserAgent(%q) = %q, want %q", in, got, want)
				}
			}
		})

		t.Run("an unknown resident gets no session", func(t *testing.T) {
			if _, err := m.Create(testCtx(t), httptest.NewRecorder(), "nobody", "urn:eidp:acr:substantial", nil, ""); err == nil {
				t.Error("Create for an unknown resident succeeded")
			}
		})
	})
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		residentID := e.resident(t)
		tests := []struct {
			name       string
			opts       session.Options
			wantName   string
			wantMaxAge int
		}{
			{"defaults over plain HTTP", session.Options{}, "eidp_session", 12 * 3600},
			{"secure with a custom name and lifetime", session.Options{Secure: true, CookieName: "__Host-eidp", AbsoluteTimeout: 2 * time.Hour}, "__Host-eidp", 2 * 3600},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m := e.manager(tt.opts)
				_, c := login(t, m, residentID)
				if c.Name != tt.wantName || c.Path != "/" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
					c.Secure != tt.opts.Secure || c.MaxAge != tt.wantMaxAge || c.Domain != "" {
					t.Errorf("cookie %s", c.String())
				}
				if raw, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(raw) != 32 {
					t.Errorf("cookie value %q is not 32 bytes of base64url", c.Value)
				}
				if !c.Expires.IsZero() {
					t.Errorf("cookie has Expires %v; Max-Age bounds it", c.Expires)
				}

				rec := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, "/logout", nil)
				r.AddCookie(c)
				if err := m.Logout(testCtx(t), rec, r); err != nil {
					t.Fatal(err)
				}
				cleared := rec.Result().Cookies()
				if len(cleared) != 1 || cleared[0].Name != tt.wantName || cleared[0].Value != "" || cleared[0].MaxAge >= 0 ||
					cleared[0].Path != "/" || !cleared[0].HttpOnly || cleared[0].Secure != tt.opts.Secure {
					t.Errorf("logout set %v, want the cookie deleted with the same attributes", cleared)
				}
			})
		}
	})
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		residentID := e.resident(t)

		t.Run("an idle session ends after the idle timeout", func(t *testing.T) {
			m := e.manager(session.Options{})
			s, cookie := login(t, m, residentID)
			e.clock.Advance(29 * time.Minute)
			mustGet(t, m, cookie) // activity keeps it alive
			e.clock.Advance(29 * time.Minute)
			mustGet(t, m, cookie)
			e.clock.Advance(30 * time.Minute)
			if got, err := m.List(testCtx(t), residentID); err != nil || slices.ContainsFunc(got, func(x session.Session) bool { return x.ID == s.ID }) {
				t.Errorf("List shows the idle session: %v, %v", got, err)
			}
			wantNoSession(t, m, cookie, "after 30 idle minutes")
			if !revoked(t, e, s.ID) {
				t.Error("the idle session was not revoked when seen")
			}
		})

		t.Run("an active session ends at the absolute timeout", func(t *testing.T) {
			m := e.manager(session.Options{AbsoluteTimeout: 2 * time.Hour})
			s, cookie := login(t, m, residentID)
			for range 5 {
				e.clock.Advance(20 * time.Minute)
				mustGet(t, m, cookie)
			}
			e.clock.Advance(19*time.Minute + 59*time.Second)
			mustGet(t, m, cookie)
			e.clock.Advance(time.Second) // exactly 2 h after login
			wantNoSession(t, m, cookie, "at the absolute timeout")
			if !revoked(t, e, s.ID) {
				t.Error("the expired session was not revoked when seen")
			}
			e.clock.Advance(-time.Hour) // a revoked session stays revoked
			wantNoSession(t, m, cookie, "once revoked, even with the clock set back")
		})
	})
}

func TestLastSeenThrottled(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		m := e.manager(session.Options{})
		s, cookie := login(t, m, e.resident(t))
		stored := func() time.Time {
			t.Helper()
			var ts db.Timestamp
			if err := e.db.QueryRowContext(testCtx(t), `SELECT last_seen_at FROM sessions WHERE id = $1`, s.ID).Scan(&ts); err != nil {
				t.Fatal(err)
			}
			return ts.Time
		}
		for range 3 { // 57 s
			e.clock.Advance(19 * time.Second)
			if got := mustGet(t, m, cookie); !got.LastSeenAt.Equal(s.CreatedAt) {
				t.Errorf("Get within a minute returned LastSeenAt %v, want %v", got.LastSeenAt, s.CreatedAt)
			}
		}
		if got := stored(); !got.Equal(s.CreatedAt) {
			t.Errorf("last_seen_at written within the first minute: %v, want %v", got, s.CreatedAt)
		}
		e.clock.Advance(4 * time.Second) // 61 s after login
		want := e.clock.Now().UTC().Truncate(time.Microsecond)
		if got := mustGet(t, m, cookie); !got.LastSeenAt.Equal(want) {
			t.Errorf("Get after a minute returned LastSeenAt %v, want %v", got.LastSeenAt, want)
		}
		if got := stored(); !got.Equal(want) {
			t.Errorf("last_seen_at after a minute = %v, want %v", got, want)
		}
		e.clock.Advance(30 * time.Second)
		mustGet(t, m, cookie)
		if got := stored(); !got.Equal(want) {
			t.Errorf("last_seen_at written again within a minute: %v, want %v", got, want)
		}
	})
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		ctx := testCtx(t)
		m := e.manager(session.Options{})
		alice, bob := e.resident(t), e.resident(t)
		a1, a1Cookie := login(t, m, alice)
		e.clock.Advance(time.Second)
		a2, a2Cookie := login(t, m, alice)
		e.clock.Advance(time.Second)
		a3, a3Cookie := login(t, m, alice)
		b1, b1Cookie := login(t, m, bob)

		ids := func(residentID string) []string {
			t.Helper()
			list, err := m.List(ctx, residentID)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, s := range list {
				out = append(out, s.ID)
			}
			return out
		}
		if got, want := ids(alice), []string{a3.ID, a2.ID, a1.ID}; !slices.Equal(got, want) {
			t.Fatalf("List(alice) = %v, want %v (newest first)", got, want)
		}
		if list, _ := m.List(ctx, alice); !sameSession(list[0], a3) {
			t.Errorf("List returned %+v, want %+v", list[0], a3)
		}

		t.Run("a resident cannot revoke another's session", func(t *testing.T) {
			if err := m.Revoke(ctx, bob, a1.ID); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("Revoke(bob, alice's session) = %v, want ErrNoSession", err)
			}
			if err := m.Revoke(ctx, alice, "no-such-session"); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("Revoke(unknown) = %v, want ErrNoSession", err)
			}
			mustGet(t, m, a1Cookie)
		})

		t.Run("a resident revokes one of their sessions", func(t *testing.T) {
			if err := m.Revoke(ctx, alice, a1.ID); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			wantNoSession(t, m, a1Cookie, "after Revoke")
			if err := m.Revoke(ctx, alice, a1.ID); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("second Revoke = %v, want ErrNoSession", err)
			}
			if got, want := ids(alice), []string{a3.ID, a2.ID}; !slices.Equal(got, want) {
				t.Errorf("List after Revoke = %v, want %v", got, want)
			}
			mustGet(t, m, a2Cookie)
		})

		t.Run("RevokeAll ends all but the current session", func(t *testing.T) {
			_, a4Cookie := login(t, m, alice)
			n, err := m.RevokeAll(ctx, alice, a3.ID)
			if err != nil || n != 2 {
				t.Fatalf("RevokeAll = (%d, %v), want (2, nil)", n, err)
			}
			wantNoSession(t, m, a2Cookie, "after RevokeAll")
			wantNoSession(t, m, a4Cookie, "after RevokeAll")
			mustGet(t, m, a3Cookie)
			if got := ids(alice); !slices.Equal(got, []string{a3.ID}) {
				t.Errorf("List after RevokeAll = %v, want only %s", got, a3.ID)
			}
			if got := ids(bob); !slices.Equal(got, []string{b1.ID}) {
				t.Errorf("RevokeAll(alice) touched bob's sessions: %v", got)
			}
			mustGet(t, m, b1Cookie)
			if n, err := m.RevokeAll(ctx, alice, ""); err != nil || n != 1 {
				t.Errorf("RevokeAll without exception = (%d, %v), want (1, nil)", n, err)
			}
			wantNoSession(t, m, a3Cookie, "after RevokeAll without exception")
		})

		t.Run("logout without a session only clears the cookie", func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := m.Logout(ctx, rec, httptest.NewRequest(http.MethodPost, "/logout", nil)); err != nil {
				t.Errorf("Logout without a session: %v", err)
			}
			if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
				t.Errorf("Logout set %v, want the cookie deleted", c)
			}
		})

		t.Run("logout revokes the request's session", func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/logout", nil)
			r.AddCookie(b1Cookie)
			if err := m.Logout(ctx, httptest.NewRecorder(), r); err != nil {
				t.Fatal(err)
			}
			wantNoSession(t, m, b1Cookie, "after logout (cookie replayed)")
			if !revoked(t, e, b1.ID) {
				t.Error("logout left the session unrevoked")
			}
		})
	})
}

func TestAMRForPasskey(t *testing.T) {
	if got := session.AMRForPasskey(false); !slices.Equal(got, []string{"hwk", "user", "pop"}) {
		t.Errorf("device-bound passkey: %v", got)
	}
	if got := session.AMRForPasskey(true); !slices.Equal(got, []string{"swk", "user", "pop"}) {
		t.Errorf("synced passkey: %v", got)
	}
	session.AMRForPasskey(true)[0] = "changed"
	if session.AMRForPasskey(true)[0] != "swk" {
		t.Error("AMRForPasskey returns a shared slice")
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSweepDeletesSessionsEndedMoreThanADayAgo(t *testing.T) {
	t.Parallel()
	eachEngine(t, func(t *testing.T, e *env) {
		residentID := e.resident(t)
		m := e.manager(session.Options{AbsoluteTimeout: 48 * time.Hour})
		live, liveCookie := login(t, m, residentID)
		revokedNow, _ := login(t, m, residentID)
		if err := m.Revoke(testCtx(t), residentID, revokedNow.ID); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			var n int
			e.db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n)
			return n
		}
		if n, err := m.Sweep(testCtx(t)); err != nil || n != 0 || count() != 2 {
			t.Fatalf("a fresh revocation is kept for a day: swept %d (%v), %d left", n, err, count())
		}
		// A day and a bit later the revoked one goes; the live one, kept
		// active, stays.
		for range 50 {
			e.clock.Advance(29 * time.Minute)
			mustGet(t, m, liveCookie)
		}
		if n, err := m.Sweep(testCtx(t)); err != nil || n != 1 || count() != 1 {
			t.Fatalf("swept %d (%v), %d left", n, err, count())
		}
		if s := mustGet(t, m, liveCookie); s.ID != live.ID {
			t.Fatalf("the live session changed: %s", s.ID)
		}
	})
}

func TestOnEndReportsEndedSessions(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		ctx := testCtx(t)
		type call struct {
			resident string
			ids      []string
		}
		var calls []call
		m := e.manager(session.Options{OnEnd: func(_ context.Context, residentID string, ids []string) error {
			calls = append(calls, call{residentID, slices.Clone(ids)})
			return nil
		}})
		alice, bob := e.resident(t), e.resident(t)
		a1, c1 := login(t, m, alice)
		a2, _ := login(t, m, alice)
		a3, _ := login(t, m, alice)
		b1, _ := login(t, m, bob)

		if err := m.Revoke(ctx, alice, a2.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if err := m.Revoke(ctx, alice, b1.ID); !errors.Is(err, session.ErrNoSession) {
			t.Fatalf("Revoke of another's session = %v, want ErrNoSession", err)
		}
		if n, err := m.RevokeAll(ctx, alice, a1.ID); err != nil || n != 1 {
			t.Fatalf("RevokeAll = %d, %v; want 1", n, err)
		}
		req := httptest.NewRequest("POST", "/logout", nil)
		req.AddCookie(c1)
		if err := m.Logout(ctx, httptest.NewRecorder(), req); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		// A second logout with the same cookie ends nothing.
		if err := m.Logout(ctx, httptest.NewRecorder(), req); err != nil {
			t.Fatalf("second Logout: %v", err)
		}
		want := []call{{alice, []string{a2.ID}}, {alice, []string{a3.ID}}, {alice, []string{a1.ID}}}
		if fmt.Sprint(calls) != fmt.Sprint(want) {
			t.Fatalf("OnEnd calls = %v, want %v", calls, want)
		}
	})
}

func TestReauthenticateKeepsTheSession(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		ctx := testCtx(t)
		ended := 0
		m := e.manager(session.Options{OnEnd: func(context.Context, string, []string) error { ended++; return nil }})
		alice := e.resident(t)
		s, oldCookie := login(t, m, alice)
		e.clock.Advance(10 * time.Minute)
		rec := httptest.NewRecorder()
		re, err := m.Reauthenticate(ctx, rec, s, "urn:eidp:acr:high", []string{"hwk", "user"})
		if err != nil {
			t.Fatalf("Reauthenticate: %v", err)
		}
		if re.ID != s.ID || !re.AuthTime.After(s.AuthTime) || re.ACR != "urn:eidp:acr:high" {
			t.Fatalf("Reauthenticate = %+v, want same ID, later auth_time, new acr", re)
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Value == oldCookie.Value {
			t.Fatalf("Reauthenticate set cookies %v, want one new token", cookies)
		}
		old := httptest.NewRequest("GET", "/", nil)
		old.AddCookie(oldCookie)
		if _, err := m.Get(ctx, old); !errors.Is(err, session.ErrNoSession) {
			t.Fatalf("old cookie after Reauthenticate: %v, want ErrNoSession", err)
		}
		fresh := httptest.NewRequest("GET", "/", nil)
		fresh.AddCookie(cookies[0])
		got, err := m.Get(ctx, fresh)
		if err != nil || got.ID != s.ID || !got.AuthTime.Equal(re.AuthTime) || got.ACR != re.ACR {
			t.Fatalf("Get with new cookie = %+v, %v", got, err)
		}
		if ended != 0 {
			t.Fatalf("OnEnd called %d times on reauthentication", ended)
		}
		if err := m.Revoke(ctx, alice, s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Reauthenticate(ctx, httptest.NewRecorder(), s, "urn:eidp:acr:high", nil); !errors.Is(err, session.ErrNoSession) {
			t.Fatalf("Reauthenticate of a revoked session = %v, want ErrNoSession", err)
		}
	})
}
